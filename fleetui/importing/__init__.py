"""Reading inventory files: CSV dialects, column mapping, cell parsing, staging and applying an
import.
"""
