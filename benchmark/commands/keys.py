"""``bench keys``: API keys of ``bench serve`` (stored hashed; a new key is printed once).

    bench keys add alice --keys keys.json --models rawnet2,aasist
    bench keys list --keys keys.json
    bench keys remove alice --keys keys.json
"""
from __future__ import annotations

import click

_KEYS = click.option("--keys", "keys_file", required=True, metavar="FILE", help="The keys file (JSON).")


@click.group("keys")
def keys():
    """API keys of bench serve: add (prints the key once), list, remove."""


@keys.command("add")
@click.argument("name")
@_KEYS
@click.option("--models", default=None, metavar="A,B", help="Models the key may use (default: all).")
def add(name, keys_file, models):
    """Create a key called NAME; the key is printed once, the file keeps only its hash."""
    from spoofbench.deploy.serve.keys import KeyStore

    store = KeyStore.load_or_empty(keys_file)
    allowed = None if models is None else [m.strip() for m in models.split(",") if m.strip()]
    key = store.add(name, allowed)
    store.save()
    click.echo(key)
    click.echo(f"added key {name!r} to {keys_file} (models: {', '.join(allowed) if allowed else 'all'}); "
               "keep the key now, it is not stored", err=True)


@keys.command("list")
@_KEYS
def list_keys(keys_file):
    """Key names, their models and when they were created (never the keys)."""
    from spoofbench.deploy.serve.keys import KeyStore

    for record in KeyStore.load(keys_file).records.values():
        click.echo(f"{record.name}\t{','.join(record.models) if record.models else 'all'}\t{record.created}")


@keys.command("remove")
@click.argument("name")
@_KEYS
def remove(name, keys_file):
    """Revoke the key called NAME (a running service reads the file at start: restart it)."""
    from spoofbench.deploy.serve.keys import KeyStore

    store = KeyStore.load(keys_file)
    store.remove(name)
    store.save()
    click.echo(f"removed key {name!r} from {keys_file}")
