"""Who holds what: teams and projects, move plans and moves, undo, history."""
