"""placeholder"""
import click

@click.command()
def demo() -> None:
    """Run the bundled example."""
