"""Finding and showing cards: the filter language, paged card lists, card detail and edits, fleet
totals, export.
"""
