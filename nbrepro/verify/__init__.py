"""nbrepro verify: rerun a notebook and explain every difference."""
