"""The README's Python examples run as written (in a scratch directory)."""

import pathlib
import re

README = pathlib.Path(__file__).resolve().parents[1] / "README.md"
BLOCKS = re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), re.S)


def test_readme_examples_run(tmp_path, monkeypatch):
    assert len(BLOCKS) >= 4, "README lost its examples"
    monkeypatch.chdir(tmp_path)
    # One namespace, in order: the offline-reading block reads the file that
    # the recording block wrote.
    ns = {}
    for i, code in enumerate(BLOCKS):
        exec(compile(code, f"README.md python block {i}", "exec"), ns)
    assert (tmp_path / "run.h5").is_file()
