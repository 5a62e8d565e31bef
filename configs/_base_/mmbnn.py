# Every mmbnn config starts here: importing mmbnn.plugin registers mmbnn's
# modules in mmengine's root registries (mmbnn/registry.py) and applies the
# pinned stack's fixes (docs/stack.md).
custom_imports = dict(imports=['mmbnn.plugin'], allow_failed_imports=False)
