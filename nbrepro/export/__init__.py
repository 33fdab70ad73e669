"""Export a recorded notebook as an installable Python package."""
