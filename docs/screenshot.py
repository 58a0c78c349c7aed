"""Regenerate docs/dashboard.svg: the dashboard on the default demo fleet (seed 7), as of
1 November 2026.

.venv/bin/python docs/screenshot.py
"""

import asyncio
import tempfile
from datetime import date
from pathlib import Path

from fleetui.admin import demo
from fleetui.app import FleetApp
from fleetui.store import open_fleet


async def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        engine = open_fleet(str(Path(tmp) / "demo.db"))
        demo.build(engine, cards=2000, seed=7)
        app = FleetApp(engine, today=lambda: date(2026, 11, 1))
        async with app.run_test(size=(110, 34)) as pilot:
            app.sub_title = "demo fleet"
            await app.workers.wait_for_complete()
            await pilot.pause()
            app.save_screenshot("dashboard.svg", path=str(Path(__file__).parent))


asyncio.run(main())
