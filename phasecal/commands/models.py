"""`phasecal models`: the model shapes phasecal knows, with where each comes from; `--model` also takes the
path of any Hugging Face config.json."""

from __future__ import annotations


def models() -> None:
    """List the model catalog (kernels/models.json): shapes, parameter counts and the source of each."""
    from rich.console import Console
    from rich.table import Table

    from phasecal.kernels.catalog import CATALOG_PATH, load_catalog

    catalog = load_catalog()
    table = Table(title=f"Model catalog ({CATALOG_PATH.name})")
    for col in ("model", "params", "layers", "hidden", "heads q/kv×dim", "FFN", "vocab"):
        table.add_column(col, justify="left" if col == "model" else "right", no_wrap=True)
    for name, s in catalog.items():
        n = s.num_params()
        table.add_row(name, f"{n / 1e9:.2f} B" if n >= 1e8 else f"{n / 1e6:.1f} M", str(s.num_layers),
                      f"{s.hidden_size:,}", f"{s.num_heads}/{s.num_kv_heads}×{s.head_dim}",
                      f"{s.intermediate_size:,}", f"{s.vocab_size:,}")
    console = Console()
    console.print(table)
    for name, s in catalog.items():
        console.print(f"{name}: {s.source}", soft_wrap=True)
    console.print("Any other model: --model path/to/config.json (its Hugging Face config).")
