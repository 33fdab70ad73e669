"""Drive a real IPython shell in this process, step by step, and report what each cell showed.

Run as ``python tests/driver.py STEPS.json``; prints one JSON object on stdout's last line.
A step is {"cell": src}, {"shell": cmd} (run by another process, /bin/sh), {"flush": true}
(wait for the recorder), or {"unload": true}.
"""

import json
import subprocess
import sys

from IPython.core.interactiveshell import InteractiveShell
from IPython.utils.capture import capture_output


def main() -> None:
    sys.path[0] = ""  # as ipython and ipykernel do: the working directory, not this script's
    steps = json.load(open(sys.argv[1]))
    shell = InteractiveShell.instance()
    results = []
    for step in steps:
        if "cell" in step:
            with capture_output(display=True) as cap:
                result = shell.run_cell(step["cell"], store_history=True)
            results.append({
                "stdout": cap.stdout,
                "stderr": cap.stderr,
                "success": result.success,
                "result": repr(result.result) if result.result is not None else None,
                "outputs": [o.data.get("text/plain") for o in cap.outputs],
            })
        elif "shell" in step:
            subprocess.run(step["shell"], shell=True, check=True)
        elif "flush" in step:
            from nbrepro.ipython.extension import active

            ext = active(shell)
            results.append({"flushed": bool(ext and ext.recorder.flush(30))})
        elif "unload" in step:
            shell.run_line_magic("unload_ext", "nbrepro")
    sys.stdout.write("\n" + json.dumps(results) + "\n")


if __name__ == "__main__":
    main()
