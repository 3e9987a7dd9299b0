from IPython.core.inputtransformer2 import TransformerManager
tm = TransformerManager()
cells = {
 "time_line_magic": "import torch\n%time model = torch.load('ckpt.pt')\n",
 "assign_from_time": "import torch\nmodel = %time torch.load('ckpt.pt')\n",
 "timeit_setup": "%%timeit m = __import__('torch').load('x.pt')\npass\n",
 "magic_in_string": "import torch\ns = \"\"\"\n%\"\"\"; model = torch.load('ckpt.pt'); t = \"\"\"\n\"\"\"\n",
 "prompt": ">>> import torch\n>>> m = torch.load('x.pt')\n",
}
for name, src in cells.items():
    print("==", name); print(tm.transform_cell(src))
