"""The fusion methods beside FNet, and the registry that puts every method behind one interface.

- :mod:`lzsc.methods.registry`: ``fnet``, ``csc-ivfn``, ``mean``, ``csc-mefn``, ``csc-mmfn`` by name
  (``load_method``), what each fuses; the command line's ``--method``;
- :mod:`lzsc.methods.csc_ivfn`, :mod:`lzsc.methods.csc_rules`: CSC-IVFN and its test-time fusion rules;
- :mod:`lzsc.methods.csc_mefn`, :mod:`lzsc.methods.csc_mmfn` (:mod:`lzsc.methods.csc_common`):
  the multi-exposure and multispectral CSC networks;
- :mod:`lzsc.methods.scenes`: files and folders of exposure stacks and multispectral cubes.

FNet itself is :mod:`lzsc.models`; CSC-IVFN's training is :mod:`lzsc.training.csc_ivfn`. Introduced in
``notebooks/11_csc_networks.ipynb``.
"""
