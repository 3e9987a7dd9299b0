import time, sys
sys.setrecursionlimit(10000)
from pytest_mlsupply.engines.project_code import analyse_source
b = int(sys.argv[1]); levels = int(sys.argv[2])
lines = ["import torch", "k0 = {'map_location': 'cpu'}"]
for i in range(1, levels + 1):
    lines.append(f"k{i} = {{" + ", ".join([f"**k{i-1}"] * b) + "}")
lines.append(f"torch.load('m.pt', **k{levels})")
src = "\n".join(lines)
t = time.perf_counter()
a = analyse_source(src, file="x.py")
print(len(src), "bytes", time.perf_counter() - t, "s", [f.rule for f in a.findings], a.error)
