"""A spaCy pipeline component that types entities with maskner.

The factory ``"maskner"`` is registered with spaCy when this module is imported. spaCy imports
it by itself through the ``spacy_factories`` entry point of the ``maskner`` package, so
``nlp.add_pipe("maskner")`` works without ``import maskner``:

>>> import spacy
>>> nlp = spacy.blank("en")
>>> nlp.add_pipe("maskner", config={"models": {"bio": "data/fixtures/tiny-bert-cased",
...                                            "phi": "data/fixtures/tiny-bert-uncased"}})  # doctest: +SKIP
>>> doc = nlp("Aspirin helps patients with headache and fever.")  # doctest: +SKIP
>>> [(e.text, e.label_, e._.maskner["subtype"], e._.maskner["score"]) for e in doc.ents]  # doctest: +SKIP
[('Aspirin', 'THERAPEUTIC_OR_PREVENTIVE_PROCEDURE', 'DRUG', 0.5905), ...]

Configuration (``nlp.add_pipe("maskner", config={...})``; defaults in brackets):

- the engine: ``models``, ``maps``, ``labels``, ``members``, ``config``, ``compat``,
  ``threads``, ``aggregation``, ``stride``, ``precision`` [all ``None``/``False``],
  ``progress`` [``False``]:
  the keywords of :class:`maskner.Engine`, which is loaded once, when the component is made;
- ``mode`` [``"auto"``]: ``"auto"``: maskner finds the phrases itself (the text is tagged as
  ``Engine.tag(text, mode="auto")``, so ``word:__entity__`` in a text is plain text);
  ``"ents"``: maskner types the spans already in ``doc.ents`` (from a mention detector such as
  scispaCy's, or an ``entity_ruler``), sent to the engine as explicit spans;
- ``batch_size`` [32]: the most docs sent to the engine in one ``Engine.tag`` call;
- ``style`` [``"ent"``]: ``"ent"`` writes ``doc.ents``; ``"span"`` writes
  ``doc.spans[spans_key]`` (overlaps allowed) and leaves ``doc.ents`` untouched;
- ``spans_key`` [``"maskner"``]: the span group of ``style="span"``;
- ``overwrite_ents`` [``False``]: with ``style="ent"``, ``False`` keeps the entities already in
  ``doc.ents`` and adds only the new ones that overlap none of them; ``True`` replaces
  ``doc.ents`` by maskner's entities;
- ``threshold`` [``None``]: drop entities whose ``score`` is below it (a number in [0, 1]);
- ``keep`` [``None`` = all]: group or subtype names to keep (``["DISEASE", "DRUG"]``, case
  ignored); an entity is kept when its group or its subtype is listed;
- ``explain`` [``False``]: add the members' descriptors to ``span._.maskner["explanation"]``.

``mode="ents"``: each entity already in ``doc.ents`` that maskner types (its score at or above
``threshold``, its group or subtype in ``keep``) is replaced by the typed span, labelled with
maskner's group. An entity maskner leaves untyped (no type, or filtered out by ``threshold``
or ``keep``) keeps its original label unless ``overwrite_ents=True``, which removes it. With
``style="span"``, the typed spans go to ``doc.spans[spans_key]`` and ``doc.ents`` is left as
it was.

Every span the component writes has ``span._.maskner``: ``{"group", "subtype", "score",
"member", "second", "label"}`` (``second``: the second prediction ``{"group", "subtype"}`` or
``None``; ``label``: a token classifier's own label or ``None``), plus ``"explanation"`` (the
per-member descriptors of the engine's record) with ``explain=True``. Entities the component
did not write have ``span._.maskner is None``.

Offsets are aligned to tokens with ``doc.char_span(start, end, alignment_mode="expand")``. An
entity that cannot be aligned (its characters cover no token) is never dropped silently: it is
counted in ``component.alignment_failures`` and in ``doc.user_data["maskner"]["unaligned"]``
and reported with an :class:`AlignmentWarning`. ``doc.user_data["maskner"]`` is set on every
doc the component processes.

An engine error for one doc (a text over a model's limit, say) is raised as the engine's
exception (a :class:`maskner.MasknerError`) whose ``index`` is the doc's position in the stream
given to :meth:`MasknerComponent.pipe` (0 for a single doc), and whose message starts with
``docs[index]: ``.
"""

import math
import numbers
import warnings
from typing import Any, Callable, Dict, Iterable, Iterator, List, Mapping, Optional, Sequence, Set, Tuple, Union

from spacy.language import Language
from spacy.tokens import Doc, Span
from spacy.util import filter_spans, minibatch

from ._maskner import Engine
from .errors import MasknerError

__all__ = ["MasknerComponent", "AlignmentWarning", "make_maskner", "EXTENSION", "USER_DATA_KEY"]

#: The name of the ``Span`` extension every written span carries (``span._.maskner``).
EXTENSION = "maskner"
#: The ``doc.user_data`` key of the component's per-doc notes (``{"unaligned": int}``).
USER_DATA_KEY = "maskner"

MODES = ("auto", "ents")
STYLES = ("ent", "span")
_ENGINE_KEYS = ("members", "models", "maps", "labels", "config", "compat", "threads", "aggregation", "stride", "progress", "precision")

DEFAULT_CONFIG: Dict[str, Any] = {
    "models": None,
    "maps": None,
    "labels": None,
    "members": None,
    "config": None,
    "compat": False,
    "threads": None,
    "aggregation": None,
    "stride": None,
    "precision": None,
    "progress": False,
    "mode": "auto",
    "batch_size": 32,
    "style": "ent",
    "spans_key": "maskner",
    "overwrite_ents": False,
    "threshold": None,
    "keep": None,
    "explain": False,
}


class AlignmentWarning(UserWarning):
    """An entity of the engine whose offsets cover no token of the doc (it is not written)."""


def _ensure_extension() -> None:
    """Registers ``Span._.maskner`` (default ``None``), unless it is already registered as
    such; anything else registered under that name is replaced (``force=True``)."""
    if Span.has_extension(EXTENSION):
        default, method, getter, setter = Span.get_extension(EXTENSION)
        if default is None and method is None and getter is None and setter is None:
            return
    Span.set_extension(EXTENSION, default=None, force=True)


def _one_of(key: str, value: Any, allowed: Sequence[str]) -> str:
    if not isinstance(value, str) or value not in allowed:
        choices = " or ".join(f'"{a}"' for a in allowed)
        raise ValueError(f"{key}: {value!r}: expected {choices}")
    return value


def _flag(key: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise ValueError(f"{key}: {value!r}: expected True or False")
    return value


def _validate(
    mode: Any,
    batch_size: Any,
    style: Any,
    spans_key: Any,
    overwrite_ents: Any,
    threshold: Any,
    keep: Any,
    explain: Any,
) -> Dict[str, Any]:
    """The component's own settings, checked (one-line ``ValueError`` naming the key)."""
    _one_of("mode", mode, MODES)
    _one_of("style", style, STYLES)
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size: {batch_size!r}: expected a whole number of docs, at least 1")
    if not isinstance(spans_key, str) or not spans_key:
        raise ValueError(f"spans_key: {spans_key!r}: expected a non-empty string")
    if threshold is not None:
        if (
            isinstance(threshold, bool)
            or not isinstance(threshold, numbers.Real)
            or math.isnan(threshold)
            or not 0.0 <= threshold <= 1.0
        ):
            raise ValueError(f"threshold: {threshold!r}: expected None or a number from 0 to 1")
        threshold = float(threshold)
    if keep is not None:
        if isinstance(keep, str) or not isinstance(keep, (list, tuple, set, frozenset)) or not keep:
            raise ValueError(f"keep: {keep!r}: expected None or a non-empty list of group or subtype names")
        if not all(isinstance(k, str) and k for k in keep):
            raise ValueError(f"keep: {keep!r}: expected None or a non-empty list of group or subtype names")
        keep = list(dict.fromkeys(keep))
    return {
        "mode": mode,
        "batch_size": batch_size,
        "style": style,
        "spans_key": spans_key,
        "overwrite_ents": _flag("overwrite_ents", overwrite_ents),
        "threshold": threshold,
        "keep": keep,
        "explain": _flag("explain", explain),
    }


def _taxonomy_names(engine: Any) -> Tuple[List[str], Set[str]]:
    """The engine's groups, and every group and subtype name it can output."""
    info = engine.info()
    groups = [g["group"] for g in info["taxonomy"]["groups"]]
    names = set(groups)
    for g in info["taxonomy"]["groups"]:
        names.update(g["subtypes"])
    return groups, names


def _snippet(text: str, start: int, end: int, width: int = 30) -> str:
    a, b = max(0, start - width), min(len(text), end + width)
    return ("..." if a > 0 else "") + text[a:b] + ("..." if b < len(text) else "")


def _overlaps(span: Span, others: Sequence[Span]) -> bool:
    return any(span.start < o.end and o.start < span.end for o in others)


class MasknerComponent:
    """Types entities of spaCy docs with a :class:`maskner.Engine` (see the module docstring
    for the settings and the ``mode="ents"`` rules).

    Made by the ``"maskner"`` factory; it can also wrap an engine of your own:

    >>> import spacy, maskner
    >>> from maskner.spacy_component import MasknerComponent
    >>> engine = maskner.Engine(models={"bio": "data/fixtures/tiny-bert-cased",
    ...                                 "phi": "data/fixtures/tiny-bert-uncased"})  # doctest: +SKIP
    >>> nlp = spacy.blank("en")
    >>> tagger = MasknerComponent(engine, style="span", threshold=0.5)  # doctest: +SKIP
    >>> docs = list(tagger.pipe(nlp.pipe(["Aspirin helps.", "Fever in London."]), batch_size=64))  # doctest: +SKIP
    >>> [(s.text, s.label_) for s in docs[0].spans["maskner"]]  # doctest: +SKIP
    [('Aspirin', 'THERAPEUTIC_OR_PREVENTIVE_PROCEDURE')]

    Attributes: ``engine``, the settings (``mode``, ``batch_size``, ``style``, ``spans_key``,
    ``overwrite_ents``, ``threshold``, ``keep``, ``explain``), and ``alignment_failures``: how
    many entities could not be aligned to tokens so far.
    """

    def __init__(
        self,
        engine: Engine,
        *,
        name: str = "maskner",
        mode: str = "auto",
        batch_size: int = 32,
        style: str = "ent",
        spans_key: str = "maskner",
        overwrite_ents: bool = False,
        threshold: Optional[float] = None,
        keep: Optional[Sequence[str]] = None,
        explain: bool = False,
        engine_kwargs: Optional[Mapping[str, Any]] = None,
    ) -> None:
        settings = _validate(mode, batch_size, style, spans_key, overwrite_ents, threshold, keep, explain)
        self.engine = engine
        self.name = name
        self.mode: str = settings["mode"]
        self.batch_size: int = settings["batch_size"]
        self.style: str = settings["style"]
        self.spans_key: str = settings["spans_key"]
        self.overwrite_ents: bool = settings["overwrite_ents"]
        self.threshold: Optional[float] = settings["threshold"]
        self.keep: Optional[List[str]] = settings["keep"]
        self.explain: bool = settings["explain"]
        self.alignment_failures = 0
        # how the engine was made (by the factory), so the component can be pickled
        self._engine_kwargs = dict(engine_kwargs) if engine_kwargs is not None else None
        self._keep: Optional[Set[str]] = None
        if self.keep is not None:
            groups, names = _taxonomy_names(engine)
            upper = {n.upper() for n in names}
            unknown = [k for k in self.keep if k.upper() not in upper]
            if unknown:
                raise ValueError(
                    f"keep: unknown name(s) {', '.join(unknown)}: expected groups ({', '.join(groups)}) "
                    "or their subtypes (Engine.info()['taxonomy'])"
                )
            self._keep = {k.upper() for k in self.keep}
        _ensure_extension()

    # -- spaCy's component protocol --------------------------------------------------------

    def __call__(self, doc: Doc) -> Doc:
        """Tags one doc (the code path of :meth:`pipe`, with a batch of one)."""
        self._process([doc], 0)
        return doc

    def pipe(self, docs: Iterable[Doc], batch_size: Optional[int] = None) -> Iterator[Doc]:
        """Tags a stream of docs with one ``Engine.tag`` call per batch, yielding them in order.

        ``batch_size``: the docs per engine call, at most the component's ``batch_size``
        setting (``nlp.pipe`` passes its own ``batch_size``, 1000 by default, which the
        setting caps); ``None``: the setting.
        """
        if batch_size is None:
            size = self.batch_size
        else:
            if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
                raise ValueError(f"batch_size: {batch_size!r}: expected a whole number of docs, at least 1")
            size = min(batch_size, self.batch_size)
        offset = 0
        for batch in minibatch(docs, size=size):
            self._process(batch, offset)
            offset += len(batch)
            yield from batch

    def __reduce__(self) -> Tuple[Callable[..., "MasknerComponent"], Tuple[Any, ...]]:
        # for nlp.pipe(n_process=...) with the spawn start method: the child loads its own engine
        if self._engine_kwargs is None:
            raise TypeError("a MasknerComponent made around an existing Engine cannot be pickled; make it with nlp.add_pipe(\"maskner\")")
        return (_rebuild, (self._engine_kwargs, self.name, self._settings()))

    def _settings(self) -> Dict[str, Any]:
        return {
            "mode": self.mode,
            "batch_size": self.batch_size,
            "style": self.style,
            "spans_key": self.spans_key,
            "overwrite_ents": self.overwrite_ents,
            "threshold": self.threshold,
            "keep": self.keep,
            "explain": self.explain,
        }

    # -- the one code path ------------------------------------------------------------------

    def _input(self, doc: Doc) -> Union[str, Dict[str, Any]]:
        if self.mode == "ents":
            return {"text": doc.text, "spans": [[e.start_char, e.end_char] for e in doc.ents]}
        return doc.text

    def _process(self, docs: Sequence[Doc], offset: int) -> None:
        """Tags ``docs`` (positions ``offset``.. of the stream) with one engine call."""
        if not docs:
            return
        inputs = [self._input(doc) for doc in docs]
        try:
            records = self.engine.tag(inputs, format="json", explain=self.explain, mode="auto", errors="raise")
        except MasknerError as err:
            _renumber(err, offset)
            raise
        for k, (doc, record) in enumerate(zip(docs, records)):
            self._apply(doc, record, offset + k)

    def _wanted(self, ent: Mapping[str, Any]) -> bool:
        if self.threshold is not None and ent["score"] < self.threshold:
            return False
        if self._keep is not None and ent["group"].upper() not in self._keep and ent["subtype"].upper() not in self._keep:
            return False
        return True

    def _payload(self, ent: Mapping[str, Any]) -> Dict[str, Any]:
        second = ent.get("second")
        payload = {
            "group": ent["group"],
            "subtype": ent["subtype"],
            "score": ent["score"],
            "member": ent["member"],
            "second": dict(second) if second is not None else None,
            "label": ent.get("label"),
        }
        if self.explain:
            payload["explanation"] = ent.get("explanation")
        return payload

    def _spans(self, doc: Doc, record: Mapping[str, Any], index: int) -> Tuple[List[Tuple[Span, Dict[str, Any]]], int]:
        """The aligned spans of the kept entities of ``record``, and how many did not align."""
        spans: List[Tuple[Span, Dict[str, Any]]] = []
        unaligned = 0
        for ent in record["entities"]:
            if not self._wanted(ent):
                continue
            start, end = ent["start"], ent["end"]
            span = doc.char_span(start, end, label=ent["group"], alignment_mode="expand")
            # None: offsets outside the text; empty or blank: offsets in the space between tokens
            if span is None or len(span) == 0 or not span.text.strip():
                unaligned += 1
                warnings.warn(
                    f"maskner: entity {ent.get('word', doc.text[start:end])!r} ({ent['group']}) at characters "
                    f"{start}..{end} of doc {index} ({_snippet(doc.text, start, end)!r}) covers no token; not written",
                    AlignmentWarning,
                    stacklevel=3,
                )
                continue
            spans.append((span, self._payload(ent)))
        return spans, unaligned

    def _apply(self, doc: Doc, record: Mapping[str, Any], index: int) -> None:
        spans, unaligned = self._spans(doc, record, index)
        self.alignment_failures += unaligned
        doc.user_data[USER_DATA_KEY] = {"unaligned": unaligned}
        payloads = {id(span): payload for span, payload in spans}
        found = [span for span, _ in spans]
        if self.style == "span":
            # one span per token range (the extension is keyed by offsets): the first wins
            seen: Set[Tuple[int, int]] = set()
            written = []
            for span in found:
                if (span.start, span.end) not in seen:
                    seen.add((span.start, span.end))
                    written.append(span)
            doc.spans[self.spans_key] = written
        else:
            new = filter_spans(found)
            existing = list(doc.ents)
            if self.overwrite_ents:
                written, final = new, new
            elif self.mode == "ents":
                # typed spans replace the entities they came from; untyped ones stay
                written = new
                final = new + [e for e in existing if not _overlaps(e, new)]
            else:
                written = [s for s in new if not _overlaps(s, existing)]
                final = existing + written
            doc.ents = sorted(final, key=lambda s: s.start)
        for span in written:
            span._.set(EXTENSION, payloads[id(span)])


def _renumber(err: MasknerError, offset: int) -> None:
    """Makes the engine's error about ``texts[i]`` of a batch name the doc: ``docs[offset+i]``."""
    if err.index is None:
        return
    local = err.index
    err.index = offset + local
    if err.args and isinstance(err.args[0], str):
        prefix = f"texts[{local}]: "
        message = err.args[0]
        if message.startswith(prefix):
            message = message[len(prefix) :]
        err.args = (f"docs[{err.index}]: {message}",) + tuple(err.args[1:])


def _rebuild(engine_kwargs: Mapping[str, Any], name: str, settings: Mapping[str, Any]) -> MasknerComponent:
    engine = Engine(**engine_kwargs)
    return MasknerComponent(engine, name=name, engine_kwargs=engine_kwargs, **settings)


@Language.factory(
    "maskner",
    default_config=DEFAULT_CONFIG,
    assigns=["doc.ents", "doc.spans", "token.ent_iob", "token.ent_type", "span._.maskner"],
)
def make_maskner(
    nlp: Language,
    name: str,
    models: Optional[Dict[str, str]],
    maps: Optional[Dict[str, str]],
    labels: Optional[Dict[str, str]],
    members: Optional[Union[str, List[str]]],
    config: Optional[Union[str, Dict[str, Any]]],
    compat: bool,
    threads: Optional[int],
    aggregation: Optional[str],
    stride: Optional[int],
    precision: Optional[str],
    progress: bool,
    mode: str,
    batch_size: int,
    style: str,
    spans_key: str,
    overwrite_ents: bool,
    threshold: Optional[float],
    keep: Optional[List[str]],
    explain: bool,
) -> MasknerComponent:
    """The ``"maskner"`` factory: loads one :class:`maskner.Engine` with the engine keywords
    and wraps it in a :class:`MasknerComponent` (this is also the object the
    ``spacy_factories`` entry point names; importing it registers the factory).

    >>> nlp.add_pipe("maskner", config={"mode": "ents", "threshold": 0.4})  # doctest: +SKIP
    """
    settings = _validate(mode, batch_size, style, spans_key, overwrite_ents, threshold, keep, explain)
    engine_kwargs = {
        "members": members,
        "models": dict(models) if models is not None else None,
        "maps": dict(maps) if maps is not None else None,
        "labels": dict(labels) if labels is not None else None,
        "config": dict(config) if isinstance(config, Mapping) else config,
        "compat": compat,
        "threads": threads,
        "aggregation": aggregation,
        "stride": stride,
        "precision": precision,
        "progress": progress,
    }
    engine = Engine(**engine_kwargs)
    return MasknerComponent(engine, name=name, engine_kwargs=engine_kwargs, **settings)
