from pytest_mlsupply.engines.project_code import analyse_source
# 6: a form feed / U+2028 in a comment splits str.splitlines but not Python's lines
src = "import torch\n# note\u2028harmless = True\nx = 1\nm = torch.load('evil.pt')\n"
a = analyse_source(src, file="s.py")
for f in a.findings: print(f.location.line, f.location.column, f.evidence[:80])
# 5: long call: the quote is clipped, so the baseline fingerprint ignores the tail
from pytest_mlsupply.baseline import fingerprint
def fp(path):
    s = "import torch\nstate = torch.load(os.path.join(CHECKPOINT_DIRECTORY_OF_THE_TRUSTED_INTERNAL_MODELS, 'team', 'resnet', 'v1', 'weights', 'final', 'epoch_90', %r), map_location='cpu')\n" % path
    (f,) = analyse_source(s, file="s.py").findings
    return f.location, fingerprint(f.title, f.evidence)
print(fp("trusted.pt") == fp("/tmp/attacker-supplied.pt"))
