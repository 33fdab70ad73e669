"""What nbrepro knows of notebooks: their recorded sessions."""
