"""One file per registered experiment, named after it, and a figure for each."""

from pathlib import Path

import logloss
from logloss.display import figures
from logloss.experiments.spec import API_MODULES

ROOT = Path(logloss.__file__).parent


def test_each_experiment_has_its_own_file_and_a_figure():
    exps = {e.name for e in logloss.list_experiments()}
    files = {p.stem.replace("_", "-") for p in (ROOT / "experiments").glob("[a-z]*.py")
             if p.stem not in API_MODULES}
    assert files == exps, files ^ exps
    figures._load_all()
    assert exps <= set(figures._FIGURES), exps - set(figures._FIGURES)
