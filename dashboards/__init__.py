"""The results explorer: a Dash app that reads the results store (never Ray or torch)."""

from dashboards.app import create_app, run

__all__ = ["create_app", "run"]
