"""maskner: zero-shot biomedical named-entity recognition from masked-language-model descriptors.

A Rust engine: masked-language BERT models predict the words that could stand in for each
phrase ("descriptors"); a descriptor -> entity map and an ensemble vote type the phrase (disease,
drug, gene, species, ...). No labelled data, no fine-tuning.

>>> import maskner
>>> engine = maskner.Engine(models={"bio": "data/fixtures/tiny-bert-cased",
...                                 "phi": "data/fixtures/tiny-bert-uncased"})  # doctest: +SKIP
>>> engine.tag(["Imatinib is used to treat CML."])[0]["entities"]  # doctest: +SKIP

Results are the records ``maskner tag`` prints, as Python objects; offsets are ``str``
indices. See ``help(maskner.Engine)`` and the README's Python section.
"""

from ._maskner import Engine, Map, __version__, build_map, load_map, lookup
from .errors import FilesError, InputError, InternalError, LimitError, MasknerError, NotFoundError

__all__ = [
    "Engine",
    "Map",
    "build_map",
    "load_map",
    "lookup",
    "MasknerError",
    "InputError",
    "LimitError",
    "FilesError",
    "NotFoundError",
    "InternalError",
    "__version__",
]
