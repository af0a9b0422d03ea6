"""Creating comparisons: validate everything first, then write the comparison and its takes.

Validation is complete before the first write, so bad input leaves nothing behind; the
catalog's capability data refuses unsupported combinations with messages that name what
each model accepts, long before a provider would.
"""

from __future__ import annotations

import base64
import binascii
import io
import logging
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from app.boards import board_by_slug, default_board
from app.budget import check_budget
from app.catalog import Catalog, ModelSpec, check_request, duration_allowed, frame_size, unknown_model
from app.errors import Conflict, InputError, NotFound
from app.models import Board, Comparison, ComparisonParams, Take
from app.providers import Providers
from app.providers.base import GenerationRequest
from app.reference import (CheckedReference, check_reference_video, reference_durations, reference_problems,
                           takes_reference)
from app.settings import Settings
from app.storage import Storage

log = logging.getLogger("takes")
MAX_MODELS = 6
MAX_SEED = 2**32 - 1   # providers document 32-bit seeds (Veo: uint32); beyond that they refuse or wrap
DEFAULT_ASPECT = "16:9"
DEFAULT_RESOLUTION = "720p"
# Preference order when a comparison names no aspect ratio / resolution: the first one every
# chosen model accepts (Hailuo renders 768p, not 720p; Luma 540p; some models only 1080p).
ASPECT_ORDER = ("16:9", "9:16", "1:1", "4:3", "3:4", "21:9", "9:21")
RESOLUTION_ORDER = ("720p", "768p", "1080p", "540p", "480p", "360p", "1440p", "4k")


def ordered(values, order: tuple[str, ...]) -> list[str]:
    """`values` in `order`, unknown ones after it (for the form's options)."""
    rank = {v: i for i, v in enumerate(order)}
    return sorted(set(values), key=lambda v: (rank.get(v, len(order)), v))


def shared_choice(specs: list[ModelSpec], field: str, preferred: str, order: tuple[str, ...]) -> str:
    """The value of `field` (aspect_ratios / resolutions) to use when none was asked for: the
    preferred one if every model takes it, else the first in `order` that all take. If none is
    shared, the preferred one, and check_request then says what each model accepts."""
    common = set.intersection(*(set(getattr(sp, field)) for sp in specs)) if specs else set()
    if preferred in common or not common:
        return preferred
    return ordered(common, order)[0]


IMAGE_FORMATS = {"PNG": ("image/png", "png"), "JPEG": ("image/jpeg", "jpg"), "WEBP": ("image/webp", "webp")}


@dataclass
class ComparisonInput:
    prompt: str
    models: list[str]
    duration_s: float | None = None
    aspect_ratio: str | None = None
    resolution: str | None = None
    board: str | None = None
    seed: int | None = None
    negative_prompt: str | None = None
    audio: bool = False
    image: bytes | None = None
    reference_video: bytes | None = None   # the motion a motion-control model follows (app/reference.py)
    extra: dict = field(default_factory=dict)
    # Per-model durations, for models that share no duration (Veo 4/6/8 s against Kling 5/10 s):
    # {model id: seconds}; the others get `duration_s`.
    durations: dict[str, float] = field(default_factory=dict)
    rewrite_prompt: bool = False   # let providers' prompt rewriters run (off: same words for every model)


@dataclass
class CheckedImage:
    data: bytes
    mime: str
    ext: str
    width: int
    height: int


def check_image(data: bytes, settings: Settings) -> CheckedImage:
    """Judge an upload by its content, not its name: format, byte size and pixel size."""
    if len(data) > settings.max_upload_bytes:
        raise InputError(f"the image is {len(data) / 1e6:.1f} MB; the limit is {settings.max_upload_bytes / 1e6:.0f} MB",
                         status_code=413)
    from PIL import Image, UnidentifiedImageError

    # Our limit is checked on the header's size below. Pillow's own MAX_IMAGE_PIXELS is left
    # alone: it is process-wide, and posters and proxies are made in the same process.
    try:
        with Image.open(io.BytesIO(data)) as im:
            fmt = im.format
            width, height = im.size
            if width * height > settings.max_upload_pixels:
                raise InputError(f"the image is {width}×{height}; the limit is {settings.max_upload_pixels} pixels")
            im.verify()
    except InputError:
        raise
    except Image.DecompressionBombError:
        # Pillow refuses to open an image of more than twice its own MAX_IMAGE_PIXELS (≈179 M)
        raise InputError(f"the image has more than {2 * Image.MAX_IMAGE_PIXELS} pixels; the limit is "
                         f"{settings.max_upload_pixels} pixels") from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError):
        raise InputError("the uploaded file is not a PNG, JPEG or WebP image") from None
    if fmt not in IMAGE_FORMATS:
        raise InputError(f"the image is {fmt}; upload a PNG, JPEG or WebP image")
    if width < 64 or height < 64:
        raise InputError(f"the image is {width}×{height}; it must be at least 64×64")
    mime, ext = IMAGE_FORMATS[fmt]
    return CheckedImage(data, mime, ext, width, height)


def decode_data_url(value: str, what: str = "image", example: str = "image/png") -> bytes:
    """`data:image/png;base64,...` or bare base64, as sent by API clients."""
    payload = value.split(",", 1)[1] if value.startswith("data:") else value
    try:
        return base64.b64decode(payload, validate=True)
    except (binascii.Error, ValueError):
        raise InputError(f"{what} must be a base64 data URL (data:{example};base64,...)") from None


def pick_duration(specs: list[ModelSpec]) -> float:
    """A duration every chosen model accepts, if there is one (else the first model's default;
    `auto_durations` then gives each other model its nearest)."""
    first = specs[0].pick_default_duration()
    candidates = [first] + [s.pick_default_duration() for s in specs[1:]] + [4, 5, 6, 8, 10]
    for d in candidates:
        if all(not check_request(s, duration_s=d, aspect_ratio=s.aspect_ratios[0], resolution=s.resolutions[0],
                                 has_image=not s.text_to_video) for s in specs):
            return float(d)
    return float(first)


def auto_durations(specs: list[ModelSpec], duration: float) -> dict[str, float]:
    """With no duration asked for and none shared by all models, each model that cannot do
    `duration` gets its nearest accepted one, rather than refusing the comparison: the grid
    handles clips of different lengths (shorter ones hold their last frame)."""
    return {s.id: float(s.nearest_duration(duration)) for s in specs if not duration_allowed(s, duration)}


def plan_durations(specs: list[ModelSpec], asked: float | None,
                   per_model: dict[str, float]) -> tuple[float, dict[str, float]]:
    """The comparison's duration and the models that get their own: asked-for per-model values,
    else (when no duration was asked) each model's nearest where the shared one does not fit."""
    duration = float(asked) if asked is not None else pick_duration(specs)
    overrides = auto_durations(specs, duration) if asked is None else {}
    overrides.update({mid: float(d) for mid, d in per_model.items()})
    return duration, {mid: d for mid, d in overrides.items() if d != duration}


def validate(data: ComparisonInput, catalog: Catalog, providers: Providers, settings: Settings
             ) -> tuple[list[ModelSpec], dict, CheckedImage | None, CheckedReference | None]:
    """Everything checked before anything is written: (models, params as stored, image,
    reference video).

    Runs in steps, each adding to one list of errors so the user sees them all; a model's own
    rules (the catalog's and its adapter's `validate`, image limits included) are checked on
    the very request the job will send (`generation_request`)."""
    errors: list[str] = []
    prompt = _check_prompt(data, settings, errors)
    specs = _check_models(data, catalog, providers, errors)
    image = check_image(data.image, settings) if data.image else None
    ref = check_reference_video(data.reference_video, settings) if data.reference_video else None
    _check_numbers(data, settings, errors)
    if errors or not specs:
        raise InputError(errors[0] if errors else "choose at least one model", errors)
    errors += reference_problems(specs, ref)
    params = plan_params(data, specs, image, ref)
    for spec in specs:
        errors += model_problems(spec, params, prompt, providers, image)
    if errors:
        raise InputError(errors[0], errors)
    return specs, params.to_json(), image, ref


def _check_prompt(data: ComparisonInput, settings: Settings, errors: list[str]) -> str:
    prompt = (data.prompt or "").strip()
    if not prompt:
        errors.append("the prompt is empty")
    elif len(prompt) > settings.max_prompt_chars:
        errors.append(f"the prompt is {len(prompt)} characters; the limit is {settings.max_prompt_chars}")
    return prompt


def _check_models(data: ComparisonInput, catalog: Catalog, providers: Providers, errors: list[str]) -> list[ModelSpec]:
    """The chosen models that exist and can be generated now, in the order given."""
    if not data.models:
        errors.append("choose at least one model")
    if len(data.models) > MAX_MODELS:
        errors.append(f"choose at most {MAX_MODELS} models (the grid shows up to {MAX_MODELS})")
    specs: list[ModelSpec] = []
    seen = set()
    for mid in data.models:
        if mid in seen:
            errors.append(f"model {mid} is listed twice")
            continue
        seen.add(mid)
        spec = catalog.get(mid)
        if spec is None:
            errors.append(unknown_model(mid))
            continue
        if spec.selectable and not providers.available(spec.provider):
            p = providers.get(spec.provider)
            keys = ", ".join(p.missing_keys()) if p else "its provider adapter"
            errors.append(f"{spec.name} is not available: set {keys}")
            continue
        specs.append(spec)
    return specs


def _check_numbers(data: ComparisonInput, settings: Settings, errors: list[str]) -> None:
    """Durations, seed and negative prompt, before any model looks at them."""
    if data.duration_s is not None and not (0 < data.duration_s <= 60):
        errors.append("duration must be between 0 and 60 seconds")
    for mid, seconds in (data.durations or {}).items():
        if mid not in data.models:
            errors.append(f"durations names {mid!r}, which is not one of the chosen models")
        elif not isinstance(seconds, (int, float)) or not (0 < seconds <= 60):
            errors.append(f"the duration for {mid} must be between 0 and 60 seconds")
    if data.seed is not None and not (isinstance(data.seed, int) and 0 <= data.seed <= MAX_SEED):
        errors.append(f"the seed must be a whole number from 0 to {MAX_SEED}")
    if data.negative_prompt and len(data.negative_prompt) > settings.max_prompt_chars:
        errors.append(f"the negative prompt is over {settings.max_prompt_chars} characters")


def plan_params(data: ComparisonInput, specs: list[ModelSpec], image: CheckedImage | None,
                ref: CheckedReference | None = None) -> ComparisonParams:
    """The comparison's parameters: what was asked, and a shared choice where nothing was."""
    per_model = {**(data.durations or {}), **reference_durations(specs, ref)}
    others = [s for s in specs if s.id not in per_model] or specs
    duration, overrides = plan_durations(others, data.duration_s, per_model)
    return ComparisonParams(
        duration_s=duration,
        aspect_ratio=data.aspect_ratio or shared_choice(specs, "aspect_ratios", DEFAULT_ASPECT, ASPECT_ORDER),
        resolution=data.resolution or shared_choice(specs, "resolutions", DEFAULT_RESOLUTION, RESOLUTION_ORDER),
        audio=bool(data.audio), durations=overrides,
        seed=int(data.seed) if data.seed is not None else None,
        negative_prompt=data.negative_prompt.strip() if data.negative_prompt else None,
        image_mime=image.mime if image else None, image_size=(image.width, image.height) if image else None,
        rewrite_prompt=bool(data.rewrite_prompt),
        reference_mime=ref.mime if ref else None, reference_duration_s=ref.duration_s if ref else None,
        reference_size=(ref.width, ref.height) if ref else None,
    )


def model_problems(spec: ModelSpec, params: ComparisonParams, prompt: str, providers: Providers,
                   image: CheckedImage | None) -> list[str]:
    """What one model refuses: the catalog's rules, then its adapter's (which the catalog cannot
    express: "1080p only at 6 s", Runway's 5 MB image) on the request the job would send."""
    problems = check_request(spec, duration_s=params.duration_for(spec.id), aspect_ratio=params.aspect_ratio,
                             resolution=params.resolution, has_image=image is not None, audio=params.audio,
                             negative_prompt=params.negative_prompt, prompt=prompt)
    adapter = providers.get(spec.provider)
    if problems or adapter is None:
        return problems
    req = generation_request(params, spec, prompt=prompt, image_nbytes=len(image.data) if image else None)
    return adapter.validate(spec, req)


def generation_request(params: ComparisonParams, spec: ModelSpec, *, prompt: str, take_id: str = "",
                       image: Path | None = None, image_nbytes: int | None = None,
                       reference_video: Path | None = None) -> GenerationRequest:
    """The one place a comparison becomes a provider request: the form's check (no take yet,
    the image still in memory: `image_nbytes`) and the job (`image` on disk) both call it."""
    width, height = frame_size(params.resolution, params.aspect_ratio)
    return GenerationRequest(
        take_id=take_id, prompt=prompt, duration_s=params.duration_for(spec.id), aspect_ratio=params.aspect_ratio,
        resolution=params.resolution, width=width, height=height, seed=params.seed,
        negative_prompt=params.negative_prompt, audio=params.audio, image=image, image_mime=params.image_mime,
        image_nbytes=image_nbytes, rewrite_prompt=params.rewrite_prompt,
        reference_video=reference_video if takes_reference(spec) else None, reference_mime=params.reference_mime,
    )


def _typed(params: dict | ComparisonParams) -> ComparisonParams:
    return params if isinstance(params, ComparisonParams) else ComparisonParams.from_json(params)


def duration_for(params: dict | ComparisonParams, model_id: str) -> float:
    """The duration asked of one model (ComparisonParams.duration_for; takes the stored dict too)."""
    return _typed(params).duration_for(model_id)


def estimate_cost(specs: list[ModelSpec], params: dict | ComparisonParams) -> float | None:
    p = _typed(params)
    prices = [s.price_for(p.duration_for(s.id), p.audio, p.resolution or None) for s in specs]
    if any(price is None for price in prices):
        return None
    return round(sum(prices), 4)


async def create_comparison(session: AsyncSession, data: ComparisonInput, *, catalog: Catalog,
                            providers: Providers, settings: Settings, storage: Storage,
                            voter_id: str | None, board: Board | None = None) -> Comparison:
    """`board`, when given, is the board the caller already resolved (and checked access to);
    otherwise `data.board` or the default board."""
    specs, stored, image, ref = validate(data, catalog, providers, settings)
    params = ComparisonParams.from_json(stored)
    if board is None:
        board = await board_by_slug(session, data.board) if data.board else await default_board(session)
    if board.archived_at is not None:
        raise InputError(f"board {board.name!r} is archived")
    costs = [spec.price_for(params.duration_for(spec.id), params.audio, params.resolution) for spec in specs]
    await check_budget(session, board, costs, unpriced=[spec.name for spec, c in zip(specs, costs) if c is None])
    comparison = Comparison(board_id=board.id, prompt=data.prompt.strip(), params=stored, created_by=voter_id)
    session.add(comparison)
    await session.flush()
    image_key = f"comparisons/{comparison.id}/source.{image.ext}" if image else None
    ref_key = f"comparisons/{comparison.id}/reference.{ref.ext}" if ref else None
    if image:
        comparison.source_image = image_key
        await storage.put_bytes(image_key, image.data)
    if ref:
        comparison.reference_video = ref_key
        await storage.put_bytes(ref_key, ref.data)
    for spec, cost in zip(specs, costs):
        session.add(Take(comparison_id=comparison.id, model_id=spec.id, provider=spec.provider, attempt=1,
                         cost_estimate_usd=cost))
    try:
        await session.commit()
    except Exception:
        for key in (image_key, ref_key):
            if key:
                await storage.delete(key)
        raise
    return await load_comparison(session, comparison.id)


async def load_comparison(session: AsyncSession, comparison_id: str) -> Comparison:
    c = (await session.execute(
        select(Comparison).where(Comparison.id == comparison_id)
        .options(selectinload(Comparison.takes), selectinload(Comparison.board))
        .execution_options(populate_existing=True)
    )).scalar_one_or_none()
    if c is None:
        raise NotFound(f"no comparison {comparison_id!r}")
    return c


async def reroll(session: AsyncSession, comparison: Comparison, model_id: str, *, catalog: Catalog | None = None,
                 providers: Providers | None = None) -> Take:
    """A new take of the same model for the same comparison (take 2, 3 …).

    With the catalog and providers given, a model that is retired or has lost its key is
    refused here rather than failing at submit."""
    attempts = [t.attempt for t in comparison.takes if t.model_id == model_id]
    if not attempts:
        raise InputError(f"model {model_id} is not part of this comparison")
    if catalog is not None and providers is not None:
        spec = catalog.get(model_id)
        if spec is None or not spec.selectable:
            raise InputError(f"{spec.name if spec else model_id} can no longer be generated"
                             + (f" ({spec.status})" if spec else ""))
        if not providers.available(spec.provider):
            p = providers.get(spec.provider)
            raise InputError(f"{spec.name} is not available: set {', '.join(p.missing_keys()) if p else 'its adapter'}")
    live = [t for t in comparison.takes if t.status not in ("failed", "cancelled")]
    if len(live) >= MAX_MODELS:
        # The synced grid shows at most six players (and keys 1–6 reach them); a seventh take
        # would fall off the screen.
        raise Conflict(f"this comparison already has {len(live)} takes, the most one grid shows side by side; "
                       f"start a new comparison of {model_id} to try it again")
    first = next(t for t in comparison.takes if t.model_id == model_id)
    await check_budget(session, comparison.board, [first.cost_estimate_usd], f"another take of {model_id}",
                       unpriced=[model_id])
    take = Take(comparison_id=comparison.id, model_id=model_id, provider=first.provider,
                attempt=max(attempts) + 1, cost_estimate_usd=first.cost_estimate_usd)
    session.add(take)
    await session.commit()
    return take


async def cancel_at_provider(take: Take, catalog: Catalog, providers: Providers) -> None:
    """Ask the provider to stop a take's remote job (best effort: the take is cancelled on our
    side either way, and a job submitted after that is cancelled by the job layer itself)."""
    spec, provider = catalog.get(take.model_id), providers.get(take.provider)
    if provider and spec and take.remote_id:
        try:
            await provider.cancel(spec, take.remote_id, take.remote_meta or {})
        except Exception:
            log.info("take %s: the provider's cancel failed; cancelled here", take.id, exc_info=True)


async def set_accepted(session: AsyncSession, take: Take, accepted: bool) -> Take:
    """Mark a take "good enough to use" (or take that back). Only a ready take can be accepted;
    attempts-to-first-acceptable-result counts from these marks."""
    if accepted and take.status != "ready":
        raise Conflict(f"take {take.id} is {take.status}; only a ready take can be accepted")
    take.accepted = bool(accepted)
    await session.commit()
    return take
