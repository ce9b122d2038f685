"""The officer's terminal app (Textual): a thin layer over the desk services."""
