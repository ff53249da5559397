"""A click group whose subcommands are imported only when one runs (or shows its own ``--help``): ``bench list``
and ``bench --help`` must not pay for torch, librosa or scikit-learn, which some command modules import."""
from __future__ import annotations

import importlib

import click


class LazyGroup(click.Group):
    """``lazy`` maps a subcommand name to ``("module:attribute", summary)``: the command object is imported on
    first use, and the group's own ``--help`` lists the summary (the start of the command's docstring; a test
    keeps the two in step) without importing it."""

    def __init__(self, *args, lazy: dict[str, tuple[str, str]] | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.lazy = dict(lazy or {})

    def list_commands(self, ctx):
        return sorted(set(super().list_commands(ctx)) | set(self.lazy))

    def get_command(self, ctx, name):
        if name not in self.commands and name in self.lazy:
            module, attribute = self.lazy[name][0].split(":")
            self.add_command(getattr(importlib.import_module(module), attribute), name)
        return super().get_command(ctx, name)

    def format_commands(self, ctx, formatter):
        names = self.list_commands(ctx)
        if not names:
            return
        limit = formatter.width - 6 - max(len(n) for n in names)
        rows = []
        for name in names:
            if name in self.commands:
                if self.commands[name].hidden:
                    continue
                rows.append((name, self.commands[name].get_short_help_str(limit)))
            else:
                summary = click.Command(name, help=self.lazy[name][1])  # click's own shortening, not imported
                rows.append((name, summary.get_short_help_str(limit)))
        with formatter.section("Commands"):
            formatter.write_dl(rows)
