"""Type stubs of the compiled engine module (re-exported by ``maskner``)."""

import os
from typing import Any, Dict, List, Literal, Mapping, Optional, Sequence, TypedDict, Union, overload

__version__: str

StrPath = Union[str, "os.PathLike[str]"]

class _RecordInput(TypedDict, total=False):
    id: Any
    text: str
    spans: Optional[List[List[int]]]

TextInput = Union[str, _RecordInput]
Format = Literal["json", "hf", "conll", "displacy"]
Mode = Literal["detect", "markers", "auto"]
OnError = Literal["raise", "record"]

class Engine:
    """The ensemble, loaded once; safe to share between threads.

    Arguments mirror ``maskner tag``'s flags:

    - ``members``: the members to run, in order, at most two (a list, or ``"bio,phi"``):
      configured names (``bio``, ``phi``) or hub ids / model directories of more masked LMs or
      token classifiers (``--members``).
    - ``models``, ``maps``, ``labels``: ``{member name: hub id or path}`` (``--model``,
      ``--map``, ``--labels``).
    - ``config``: an engine configuration, as a dict or the path of a JSON file (``--config``).
    - ``compat``: reproduce the reference's exact numerics and quirks (``--compat``).
    - ``threads``: the size of this engine's compute pool (default: one thread per core). The
      pool is the engine's own, never rayon's global pool, so different engines can use
      different sizes, and a ``fork``-ed child (``multiprocessing``) builds its own pool
      instead of deadlocking on its parent's threads.
    - ``aggregation``, ``stride``: token-classifier members (``--aggregation``, ``--stride``).
    - ``progress``: show progress bars and notes on stderr (when it is a terminal).
    - ``precision``: how the masked-LM members hold their weight matrices, ``"fp32"`` (default)
      or ``"bf16"`` (half the memory, arithmetic still fp32; ``--precision``).

    Raises ``NotFoundError`` (a ``FileNotFoundError``) for a missing model or map,
    ``FilesError`` (an ``OSError``) for an unreadable one, ``InputError`` (a ``ValueError``)
    for a bad setting.

    >>> engine = Engine(models={"bio": "data/fixtures/tiny-bert-cased",
    ...                         "phi": "data/fixtures/tiny-bert-uncased"})
    >>> record = engine.tag("Imatinib is used to treat CML.")
    >>> [(e["word"], e["group"], e["score"]) for e in record["entities"]]
    """

    def __init__(
        self,
        members: Optional[Union[str, Sequence[str]]] = None,
        models: Optional[Mapping[str, StrPath]] = None,
        maps: Optional[Mapping[str, StrPath]] = None,
        labels: Optional[Mapping[str, StrPath]] = None,
        config: Optional[Union[StrPath, Mapping[str, Any]]] = None,
        compat: bool = False,
        threads: Optional[int] = None,
        aggregation: Optional[Literal["none", "simple", "first", "average", "max"]] = None,
        stride: Optional[int] = None,
        progress: bool = True,
        precision: Optional[Literal["fp32", "bf16"]] = None,
    ) -> None: ...
    @overload
    def tag(
        self, texts: TextInput, *, format: Format = "json", explain: bool = False, mode: Mode = "detect", errors: OnError = "raise"
    ) -> Any: ...
    @overload
    def tag(
        self,
        texts: Sequence[TextInput],
        *,
        format: Format = "json",
        explain: bool = False,
        mode: Mode = "detect",
        errors: OnError = "raise",
    ) -> List[Any]: ...
    def tag(self, texts: Any, *, format: Format = "json", explain: bool = False, mode: Mode = "detect", errors: OnError = "raise") -> Any:
        """Tags texts: ``str``s, or dicts ``{"id", "text", "spans"}`` (``spans``: ``[start, end]``
        ``str`` indices of the phrases to type). One input alone gives one result; a list gives
        a list, in order. Each result is what ``maskner tag`` prints for that input:

        - ``json``: the record ``{"id", "text", "terms", "entities"}``; each entity
          ``{"start", "end", "word", "group", "subtype", "tag", "score", "member"}`` (plus
          ``second`` when a second prediction exists, ``explanation`` with ``explain=True``);
        - ``hf``: a list of ``{"entity_group", "score", "word", "start", "end"}``;
        - ``conll``: the ``term TAG`` lines, ending with a blank line;
        - ``displacy``: ``{"text", "ents": [{"start", "end", "label"}], "title"}`` for
          ``spacy.displacy.render(..., manual=True)``.

        Offsets are ``str`` indices (code points). An input without ``id`` gets its number,
        counted from 1, as the CLI numbers its inputs. ``mode``: ``detect`` (``word:__entity__``
        markers if present, else automatic phrases), ``markers``, ``auto``.

        ``errors="raise"`` (default) raises the first failing input's exception (its ``index``
        is the input's position); ``errors="record"`` puts ``{"id", "error"}`` in its place and
        tags the others.

        >>> engine.tag(["Aspirin:__entity__ helps", {"id": "n1", "text": "EGFR in lung cancer"}], format="hf")
        """
    @overload
    def fill_mask(self, texts: str, top_k: int = 10, member: Optional[str] = None, *, errors: OnError = "raise") -> Dict[str, Any]: ...
    @overload
    def fill_mask(
        self, texts: Sequence[str], top_k: int = 10, member: Optional[str] = None, *, errors: OnError = "raise"
    ) -> List[Dict[str, Any]]: ...
    def fill_mask(self, texts: Any, top_k: int = 10, member: Optional[str] = None, *, errors: OnError = "raise") -> Any:
        """The masked LM's ``top_k`` predictions at ``[CLS]`` and every ``[MASK]``, as
        ``maskner fill-mask --json`` prints them: ``{"text", "masks": [{"position",
        "predictions": [{"token", "id", "score"}]}], "cls": [...]}`` (scores are logits).
        ``member``: a masked-LM member's name (default: the first). A text longer than the
        model's maximum raises ``LimitError``; it is never truncated.

        >>> engine.fill_mask("Aspirin treats [MASK] .", top_k=3)["masks"][0]["predictions"]
        """
    def info(self) -> Dict[str, Any]:
        """The members (name, kind, model, map), the taxonomy and the common entities: what the
        server's ``GET /v1/info`` returns."""
    @property
    def members(self) -> List[str]:
        """The member names, in ensemble order."""

class Map:
    """A descriptor -> entity map (token -> entity labels with counts)."""

    @overload
    def lookup(self, tokens: str) -> Dict[str, Any]: ...
    @overload
    def lookup(self, tokens: Sequence[str]) -> List[Dict[str, Any]]: ...
    def lookup(self, tokens: Any) -> Any:
        """``{"token", "labels", "counts", "source"}`` per token, as ``maskner lookup --json``:
        exact, lower-case, case union, digits -> MEASURE, unknown -> UNTAGGED_ENTITY."""
    @property
    def meta(self) -> Dict[str, Any]:
        """Model, vocabulary hash, rule, seeds and taxonomy the map was built with."""
    @property
    def path(self) -> Optional["os.PathLike[str]"]:
        """Where the map was read from or written to."""
    @property
    def stats(self) -> Optional[Dict[str, Any]]:
        """Build statistics, for a map built by ``build_map`` in this process."""
    def __len__(self) -> int: ...

def build_map(
    model: Optional[StrPath] = None,
    out: Optional[StrPath] = None,
    rule: Literal["knn", "v2", "v1"] = "knn",
    *,
    seeds: Optional[StrPath] = None,
    k: Optional[int] = None,
    space: Literal["input", "contextual", "mixed"] = "input",
    search: Literal["auto", "exact", "hnsw"] = "auto",
    taxonomy: str = "jan2022",
    import_labels: Optional[StrPath] = None,
    progress: bool = True,
) -> Map:
    """Builds a model's descriptor -> entity map from seed lists (``maskner build-map``) and
    saves it to ``out`` (default: the cache ``Engine`` reads, so the next engine on this model
    uses it). ``import_labels``: import a reference ``labels.txt`` into ``out`` instead.

    >>> m = build_map("bert-base-cased", out="maps/bert-base-cased")
    >>> m.lookup("aspirin")["labels"]
    """

def load_map(path: StrPath) -> Map:
    """Opens a map directory written by ``build_map`` or ``maskner build-map``."""

@overload
def lookup(map_or_model: Union[Map, StrPath], tokens: str, *, progress: bool = True) -> Dict[str, Any]: ...
@overload
def lookup(map_or_model: Union[Map, StrPath], tokens: Sequence[str], *, progress: bool = True) -> List[Dict[str, Any]]: ...
