from pytest_mlsupply.engines.project_code import analyse_source
from pytest_mlsupply.baseline import fingerprint
def fp(path):
    s = "import torch\nstate = torch.load(\n    os.path.join(CHECKPOINT_DIRECTORY_OF_THE_TRUSTED_INTERNAL_MODELS, 'team', 'resnet', 'v1', 'weights', 'final', 'epoch_90', 'x'),\n    map_location='cpu',\n    pickle_module=%s,\n)\n" % path
    (f,) = [f for f in analyse_source(s, file="s.py").findings if f.rule == "MLS-LOAD-001"]
    print(f.evidence)
    return f.location, fingerprint(f.title, f.evidence)
print(fp("pickle") == fp("attacker_module"))
