# ---
# jupyter:
#   jupytext:
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.6
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Scratchpad
#
# The notebook nobody cleaned up: redefinitions, files written and read back, shell, odd magics.

# %%
# %load_ext nbrepro
# %config InlineBackend.figure_format = 'png'

# %%
import json
import os
import shutil
from collections import Counter


# %%
def clean(word):
    return word.strip().lower()


# %%
words = [clean(w) for w in "The cat the Hat THE end".split()]
counts = Counter(words)
counts.most_common(2)


# %%
# redefined later: the export keeps the order
def clean(word):
    return word.strip().lower().rstrip('.')


# %%
clean(" Dog. ")

# %%
total = 0


def add(n):
    global total
    total += n
    return total


[add(i) for i in range(4)]

# %%
total

# %%
shutil.rmtree("out", ignore_errors=True)
os.makedirs("out")
with open("out/counts.json", "w") as fh:
    json.dump(dict(counts), fh, sort_keys=True)
sorted(os.listdir("out"))

# %%
with open("out/counts.json") as fh:
    json.load(fh)["the"]

# %%
try:
    json.loads("{bad")
except json.JSONDecodeError as exc:
    print("bad json at column", exc.colno)

# %%
# %env NBREPRO_DEMO_FLAG=1
os.environ.get("NBREPRO_DEMO_FLAG")

# %% language="bash"
# echo from bash

# %%
# %%writefile out/note.txt
written by the notebook


# %%
open("out/note.txt").read()

# %%
squares = (n * n for n in range(5));

# %%
list(squares)


# %%

# %%
# just a comment

# %%
class Counter2(Counter):
    @classmethod
    def of(cls, text):
        return cls(text.split())


Counter2.of("a b a")["a"]

# %%
undefined_variable + 1

# %%
print(len(words), total)
