"""Textual screens. They call `fleetui` services and never build SQL themselves."""
