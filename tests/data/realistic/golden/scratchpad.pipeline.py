import json
import os
import shutil
from collections import Counter

from . import _runtime


def add(n):
    global total
    total += n
    return total


class Counter2(Counter):

    @classmethod
    def of(cls, text):
        return cls(text.split())


# The notebook's folder, relative to this package's folder: run() works there
# unless given workdir. None: run in the current folder.
NOTEBOOK_DIR: str | None = None

# What the notebook read, relative to its folder: a run given outdir works there,
# with these linked from workdir, so what the code writes lands under outdir.
INPUTS: tuple[str, ...] = ()

# The notebook's parameters (its cell tagged 'parameters') and their defaults.
PARAMETERS: dict[str, object] = {}


def step_01_scratchpad():
    """Scratchpad"""
    # nbrepro fallback: module globals, for add()
    global total
    # cell 3
    def clean(word):
        return word.strip().lower()
    # cell 4
    words = [clean(w) for w in 'The cat the Hat THE end'.split()]
    counts = Counter(words)
    # cell 5
    def clean(word):
        return word.strip().lower().rstrip('.')
    # cell 7
    total = 0
    _runtime.result([add(i) for i in range(4)])
    # cell 9
    shutil.rmtree('out', ignore_errors=True)
    os.makedirs('out')
    with open('out/counts.json', 'w') as fh:
        json.dump(dict(counts), fh, sort_keys=True)
    # cell 10
    with open('out/counts.json') as fh:
        json.load(fh)['the']
    # cell 11
    try:
        json.loads('{bad')
    except json.JSONDecodeError as exc:
        print('bad json at column', exc.colno)
    # cell 12
    _runtime.setenv('NBREPRO_DEMO_FLAG', '1')
    # cell 13
    _runtime.script('bash', 'echo from bash\n')
    # cell 14
    _runtime.writefile('out/note.txt', 'written by the notebook\n', append=False)
    # cell 16
    squares = (n * n for n in range(5))
    # cell 22
    print(len(words), total)
    return clean, counts, words, squares


# What each cell showed in the notebook, as functions of the names it read: its last
# expression (SHOWN) and the objects it passed to display() (DISPLAYED). run() evaluates
# them where the cell ended; _runtime.last_results() has them as cell_<n>.
SHOWN = {
    4: lambda counts: counts.most_common(2),
    6: lambda clean: clean(' Dog. '),
    8: lambda: total,
    9: lambda: sorted(os.listdir('out')),
    12: lambda: os.environ.get('NBREPRO_DEMO_FLAG'),
    15: lambda: open('out/note.txt').read(),
    17: lambda squares: list(squares),
    20: lambda: Counter2.of('a b a')['a'],
    21: lambda undefined_variable: undefined_variable + 1,
}
DISPLAYED = {}


def run(
    *,
    workdir: str | os.PathLike[str] | None = None,
    outdir: str | os.PathLike[str] | None = None,
) -> dict[str, object]:
    """Run the notebook's steps in order; return its variables as they left them.

    The code runs in ``workdir`` (default: NOTEBOOK_DIR), or, given ``outdir``, in
    ``outdir`` with INPUTS linked from ``workdir``; figures are saved under ``outdir``.
    ``_runtime.last_results()`` has what each cell printed and showed.
    """
    with _runtime.Notebook(
        SHOWN, DISPLAYED, {},
        workdir=workdir, default=NOTEBOOK_DIR, outdir=outdir, inputs=INPUTS,
    ):
        clean, counts, words, squares = step_01_scratchpad()
    return {
        'clean': clean,
        'counts': counts,
        'squares': squares,
        'words': words,
    }
