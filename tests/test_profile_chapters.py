"""tests/profile_chapters.py puts each compilation in the cell that caused it.

A heading and three code cells, run in a real kernel: the cell that calls a new jitted function
compiles at least that program, the cell that only prints compiles nothing, and the report adds up;
a gfn_teach function's eager operations are put down to that function.
"""

import runpy
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]


def test_compiles_are_counted_in_the_cell_that_ran_them(tmp_path, capsys):
    tool = runpy.run_path(str(ROOT / "tests" / "profile_chapters.py"), run_name="profile_chapters")
    cells = ["import jax, jax.numpy as jnp",
             "f = jax.jit(lambda x: jnp.sin(x) * 2 + jnp.cos(x))\nf(jnp.ones(7)).block_until_ready()",
             "print('nothing to compile')",
             "import gfn_teach as g\ntv = g.total_variation(jnp.full(5, 0.2), jnp.arange(5.0) / 10)"]
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("# Tiny")]
                                        + [nbformat.v4.new_code_cell(c) for c in cells])
    path = tmp_path / "tiny_notebook"
    nbformat.write(notebook, path)

    result = tool["profile"](path)
    assert sorted(result["cells"]) == [1, 2, 3, 4]  # the code cells' places in the notebook
    imports, jitted, printing = (result["cells"][i] for i in (1, 2, 3))
    assert jitted["programs"] >= 1 and jitted["compile"] > 0 and jitted["seconds"] > 0
    assert any(index == 2 and "<lambda>" in name and caller == "the cell"
               for index, name, _, caller in result["compiled"])
    # an eager operation run by a library function is put down to the function the cell called
    assert any(index == 4 and caller == "g.metrics.total_variation" for index, _, _, caller in result["compiled"])
    assert printing["programs"] == 0 and printing["compile"] == 0
    row = tool["summary"]("tiny_notebook", result)
    assert row["programs"] == len(result["compiled"]) >= 1
    assert 0 < row["compile"] < row["seconds"]
    assert abs(row["rest"] - (row["seconds"] - row["compile"] - row["trace"])) < 1e-9

    tool["print_report"]({"tiny_notebook": result}, top_cells=2, top_functions=20)
    printed = capsys.readouterr().out
    assert "tiny_notebook" in printed and "<lambda>" in printed and "g.metrics.total_variation" in printed


def test_cache_dir_is_used_and_kept(tmp_path, monkeypatch, capsys):
    """--cache-dir: the chapters' kernels compile into that folder, and it is kept for a second,
    warm run (a temporary cache, --shared-cache, is deleted with the run)."""
    tool = runpy.run_path(str(ROOT / "tests" / "profile_chapters.py"), run_name="profile_chapters")
    cell = "import jax, jax.numpy as jnp\njax.jit(lambda x: jnp.tanh(x) * 3)(jnp.ones(11)).block_until_ready()"
    path = tmp_path / "tiny_chapter"  # no extension: test_unchanged looks for notebook names
    nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(cell)]), path)
    cache = tmp_path / "kept-cache"
    for variable in ("JAX_COMPILATION_CACHE_DIR", "JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS"):
        monkeypatch.setenv(variable, "restored after the test")  # main() sets them for its kernels
    monkeypatch.setattr("sys.argv", ["profile_chapters.py", str(path), "--cache-dir", str(cache)])
    assert tool["main"]() == 0
    assert any(cache.iterdir()), "the kernel's programs were not written to --cache-dir"
    assert "tiny_chapter" in capsys.readouterr().out
