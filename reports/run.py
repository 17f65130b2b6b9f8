"""Execute the report notebooks against a results folder and export each as HTML.

The notebooks live as jupytext percent-format `.py` files in `reports/notebooks/` (the source of
truth, reviewed as code); their executed `.ipynb` twins are committed with outputs so the figures
show where the repository is browsed. The kernel finds the results folders through
`$PHASECAL_RESULTS` (joined by `os.pathsep`), which this module sets for it.
"""

from __future__ import annotations

import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from phasecal.atomic import write_atomic
from phasecal.errors import RunFailed

NOTEBOOKS_DIR = Path(__file__).resolve().parent / "notebooks"
CELL_TIMEOUT_S = 120


@dataclass
class Executed:
    """One executed notebook: where its HTML went and how long it ran."""

    name: str
    html: Path
    ipynb: Path | None
    seconds: float


def notebook_sources(notebooks_dir: Path = NOTEBOOKS_DIR) -> list[Path]:
    """The notebooks' percent-format sources, in order (`01_…py`, `02_…py`, …)."""
    paths = sorted(notebooks_dir.glob("[0-9][0-9]_*.py"))
    if not paths:
        raise ValueError(f"no notebook sources (NN_name.py) in {notebooks_dir}")
    return paths


def execute_notebook(source: Path, results_dirs: list[Path], timeout_s: int = CELL_TIMEOUT_S):
    """Read a percent-format notebook and run every cell in a fresh kernel that reads `results_dirs`;
    returns the executed notebook. A failing cell raises RunFailed naming the notebook and the error."""
    import jupytext
    from jupyter_client.manager import KernelManager
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError

    nb = jupytext.read(source)
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.metadata.setdefault("jupytext", {})["formats"] = "ipynb,py:percent"
    env = dict(os.environ, PHASECAL_RESULTS=os.pathsep.join(map(str, results_dirs)), MPLBACKEND="Agg")
    # The kernel talks to us over Unix sockets in a private folder, not over TCP: nothing listens on the
    # network, and the kernel has no reason to warn that its TCP traffic is unencrypted.
    with tempfile.TemporaryDirectory(prefix="phasecal-kernel-") as sockets:
        km = KernelManager(kernel_name="python3", transport="ipc", ip=os.path.join(sockets, "k"))
        client = NotebookClient(nb, km=km, timeout=timeout_s, kernel_name="python3",
                                resources={"metadata": {"path": str(source.parent)}})
        try:
            client.execute(env=env)
        except CellExecutionError as e:  # one line: the notebook and the error, not the cell's traceback
            raise RunFailed(f"notebook {source.name} failed on {os.pathsep.join(map(str, results_dirs))}: "
                            f"{e.ename}: {e.evalue}") from None
        finally:
            if km.has_kernel:
                km.shutdown_kernel(now=True)
    return nb


def export_html(nb, path: Path, title: str) -> Path:
    """Write an executed notebook as a standalone HTML page (figures embedded), atomically."""
    from nbconvert import HTMLExporter

    exporter = HTMLExporter(template_name="lab")
    body, _ = exporter.from_notebook_node(nb, resources={"metadata": {"name": title}})
    write_atomic(path, body)
    return path


def execute_reports(results_dirs: str | os.PathLike | list, out_dir: str | os.PathLike, *,
                    update_notebooks: bool = False, notebooks_dir: Path = NOTEBOOKS_DIR) -> list[Path]:
    """Execute every report notebook against one results folder or several, write `<out_dir>/<name>.html`,
    return the paths.

    With `update_notebooks`, also write each executed notebook beside its source as `<name>.ipynb`
    (the committed copies with outputs). Raises ValueError if a results folder does not exist.
    """
    return [e.html for e in execute_reports_timed(results_dirs, out_dir, update_notebooks=update_notebooks,
                                                   notebooks_dir=notebooks_dir)]


def _folders(results_dirs: str | os.PathLike | list) -> list[Path]:
    dirs = results_dirs if isinstance(results_dirs, list | tuple) else [results_dirs]
    folders = [Path(d).expanduser().absolute() for d in dirs]
    for folder in folders:
        if not folder.is_dir():
            raise ValueError(f"results folder {folder} does not exist: pass --results DIR "
                             "(the folder holding <device>/<model>/raw.jsonl and profile.json)")
    return folders


def execute_reports_timed(results_dirs: str | os.PathLike | list, out_dir: str | os.PathLike, *,
                          update_notebooks: bool = False, notebooks_dir: Path = NOTEBOOKS_DIR) -> list[Executed]:
    """`execute_reports`, also saying how long each notebook took."""
    import nbformat

    folders = _folders(results_dirs)
    out_dir = Path(out_dir).expanduser()
    out_dir.mkdir(parents=True, exist_ok=True)
    done = []
    for source in notebook_sources(notebooks_dir):
        t0 = time.perf_counter()
        nb = execute_notebook(source, folders)
        html = export_html(nb, out_dir / f"{source.stem}.html", source.stem)
        ipynb = None
        if update_notebooks:
            ipynb = source.with_suffix(".ipynb")
            write_atomic(ipynb, nbformat.writes(nb) + "\n")
        done.append(Executed(source.stem, html, ipynb, time.perf_counter() - t0))
    return done
