from pytest_mlsupply.engines.project_code.notebooks import _python
from pytest_mlsupply.engines.project_code import analyse_source
cases = [
 "import torch\n%time model = torch.load('ckpt.pt')\n",
 "import torch\nmodel = %time torch.load('ckpt.pt')\n",
 "import torch\n%timeit -n 10 -r 3 torch.load(p, weights_only=True)\n",
 "import torch\n%prun -s cumulative torch.load(p)\n",
 "%time\n%matplotlib inline\nfiles = !ls\n",
 "import torch\nif True:\n    %time torch.load(p)\n",
 "q = \"\"\"\n%s\n!x\n\"\"\"\n",
 "import torch\nx = f(1,\n%time 2)\n",
 "%%timeit -n 3 import torch\ntorch.load(p)\n",
 "%%script python3 --bg\nimport pickle\npickle.loads(b)\n",
 "%%script bash\npython -c 'x'\n",
]
for c in cases:
    out = _python(c)
    print(repr(out))
    if out is not None:
        a = analyse_source(out, file="n", cell=1)
        print("   ", [(f.rule, f.location.line, f.location.column) for f in a.findings], a.error)
