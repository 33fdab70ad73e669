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

# The notebook's parameters (its cell tagged 'parameters') and their defaults.
PARAMETERS: dict[str, object] = {}


def step_01_scratchpad(results: _runtime.Results) -> None:
    """Scratchpad"""
    global clean, counts, exc, fh, squares, total, words
    with results.cell(3):

        def clean(word):
            return word.strip().lower()
    with results.cell(4):
        words = [clean(w) for w in 'The cat the Hat THE end'.split()]
        counts = Counter(words)
        results.value(4, counts.most_common(2))
    with results.cell(5):

        def clean(word):
            return word.strip().lower().rstrip('.')
    with results.cell(6):
        results.value(6, clean(' Dog. '))
    with results.cell(7):
        total = 0
        results.value(7, [add(i) for i in range(4)])
    with results.cell(8):
        results.value(8, total)
    with results.cell(9):
        shutil.rmtree('out', ignore_errors=True)
        os.makedirs('out')
        with open('out/counts.json', 'w') as fh:
            json.dump(dict(counts), fh, sort_keys=True)
        results.value(9, sorted(os.listdir('out')))
    with results.cell(10):
        with open('out/counts.json') as fh:
            json.load(fh)['the']
    with results.cell(11):
        try:
            json.loads('{bad')
        except json.JSONDecodeError as exc:
            print('bad json at column', exc.colno)
    with results.cell(12):
        _runtime.setenv('NBREPRO_DEMO_FLAG', '1')
        results.value(12, os.environ.get('NBREPRO_DEMO_FLAG'))
    with results.cell(13):
        _runtime.script('bash', 'echo from bash\n')
    with results.cell(14):
        _runtime.writefile('out/note.txt', 'written by the notebook\n', append=False)
    with results.cell(15):
        results.value(15, open('out/note.txt').read())
    with results.cell(16):
        squares = (n * n for n in range(5))
    with results.cell(17):
        results.value(17, list(squares))
    with results.cell(20):
        results.value(20, Counter2.of('a b a')['a'])
    with results.cell(21, expect_error='NameError'):
        results.value(21, undefined_variable + 1)
    with results.cell(22):
        print(len(words), total)


def run(
    *,
    workdir: str | os.PathLike[str] | None = None,
    outdir: str | os.PathLike[str] | None = None,
) -> dict[str, object]:
    """Run the notebook's code in order; return its results by key.

    Parameters become module globals, as papermill injects them. The code runs in
    ``workdir`` (default: NOTEBOOK_DIR) and saves figures under ``outdir`` (default:
    not saved). ``_runtime.last_results()`` has each cell's captured output.
    """
    _runtime.set_outdir(outdir)
    results = _runtime.Results()
    with _runtime.workdir(workdir, default=NOTEBOOK_DIR):
        step_01_scratchpad(results)
    return results.values
