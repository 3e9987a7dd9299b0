import json, sys
from pathlib import Path
from pytest_mlsupply.engines.project_code import analyse_file
cases = {
 "time_line_magic": ["import torch\n", "%time model = torch.load('ckpt.pt')\n"],
 "assign_from_time": ["import torch\n", "model = %time torch.load('ckpt.pt')\n"],
 "timeit_setup": ["%%timeit import torch; m = torch.load('x.pt')\n", "pass\n"],
 "cell_time_body": ["%%time\n", "import torch\n", "m = torch.load('x.pt')\n"],
 "python3_cell": ["%%python3\n", "import torch\n", "m = torch.load('x.pt')\n"],
 "script_python": ["%%script python\n", "import torch\n", "m = torch.load('x.pt')\n"],
 "magic_in_string": ["import torch\n", "s = \"\"\"\n", "%\"\"\"; model = torch.load('ckpt.pt'); t = \"\"\"\n", "\"\"\"\n"],
 "help_in_string": ["import torch\n", "s = '''\n", "x?'''; model = torch.load('ckpt.pt'); t = '''\n", "'''\n"],
 "prompt": [">>> import torch\n", ">>> m = torch.load('x.pt')\n"],
}
for name, src in cases.items():
    nb = {"nbformat": 4, "nbformat_minor": 5, "metadata": {}, "cells": [{"cell_type": "code", "source": src, "metadata": {}, "outputs": [], "execution_count": None}]}
    p = Path(f"/tmp/r2/{name}.ipynb"); p.write_text(json.dumps(nb))
    a = analyse_file(p, display=p.name)
    print(f"{name:20}", [f.rule for f in a.findings], a.error)
