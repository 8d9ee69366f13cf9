"""The hybrid demo: drop or record a clip -> what the CNN saw in each frame, how the RNN decided, the action.

Layout and event wiring only; the work is in hybrid/app/ (plain functions over one AppContext) and
hybrid/viz.py (pictures).

    python app.py [--examples DIR]     # http://127.0.0.1:7860 (GRADIO_SERVER_NAME / GRADIO_SERVER_PORT)

Environment (read once at start, hybrid/app/settings.py): HYBRID_MODEL (a model folder to offer first, or a Hub
repo id), HYBRID_EXAMPLES (a folder of example clips, or a Hub dataset repo id whose clips are fetched at start),
HYBRID_MAX_DURATION_S (default 60), HYBRID_MAX_FILE_MB (default 100), HYBRID_MAX_READ_S (120), HYBRID_LIVE_WINDOW_S
(the model's clip_seconds, else 4), HYBRID_LIVE_POLICY (auto), HYBRID_LIVE_TIME_LIMIT_S (300), HYBRID_TIMELINE_MAX_S
(600), HYBRID_TEACH_MAX_TAKES (60), HYBRID_TEACH_MAX_TAKE_S (15), HYBRID_TEACH_MAX_TAKE_MB (25), HYBRID_TEACH_TTL_S
(1800).
"""

from __future__ import annotations

import argparse
import importlib.util
import signal
import sys
import time
from pathlib import Path

import gradio as gr

from hybrid.lean import skip_triton

skip_triton()  # before torch loads: ~76 MB less resident memory (see hybrid/lean.py)

from hybrid.app import STYLE, card, clip, examples, live, models, preview  # noqa: E402
from hybrid.app import gradio_compat as compat  # noqa: E402
from hybrid.app import teach as tc  # noqa: E402
from hybrid.app import timeline as tl  # noqa: E402
from hybrid.app.context import AppContext  # noqa: E402
from hybrid.app.errors import AppError, failure_markdown  # noqa: E402
from hybrid.config import DEFAULT_WINDOW_S  # noqa: E402
from hybrid.errors import ConfigError  # noqa: E402

TITLE = "hybrid — see what a CNN saw and how an RNN decided"

HEADER = """
<div id="hero">
  <h1>What's happening in this clip?</h1>
  <p>Drop or record a short video. A <b>CNN</b> looks at a handful of frames spread over the clip, one at a
  time, and turns each into a feature vector; an <b>RNN</b> reads those vectors in order and names the action.
  Below the answer you see both halves at work.</p>
  <div class="flow"><span>frames</span><i>→</i><span>CNN per frame</span><i>→</i><span>feature vectors</span>
  <i>→</i><span>RNN over time</span><i>→</i><span class="end">action</span></div>
</div>
"""

IDLE = """#### Drop a clip or record one
You get:
1. **the action** and the model's top 5,
2. **what the CNN saw**: each sampled frame with a heat map and the things it recognises,
3. **how the RNN decided**: its belief after every frame, and when it made up its mind.
"""

CSS = STYLE.read_text(encoding="utf-8")


class Handlers:
    """The page's event handlers over one AppContext: each turns the app's AppError into a red toast."""

    def __init__(self, ctx: AppContext):
        self.ctx = ctx

    def predict(
        self,
        video: str | None,
        model: str | None,
        repo_id: str | None,
        overlay: str,
        request: gr.Request = None,  # injected by Gradio (not an API input): whose answer panel shows a failure
        progress=gr.Progress(),
    ):
        """Name the action in a video with a Hybrid CNN-RNN model.

        Args:
            video: the video file (mp4, webm, avi, mkv, mov...).
            model: name of a bundled model (see the Model picker).
            repo_id: a Hugging Face repo id (owner/name) of a hybrid model; overrides `model` when not empty.
            overlay: which heat map to draw on the frames (Grad-CAM for the answer, or CNN activation).

        Returns:
            verdict (markdown), top-5 {label: probability}, frames with heat maps (and captions), how alike the
            frames look (an SVG chart), the belief after every RNN step (an SVG chart), timings (markdown), and a
            JSON dict with every number.
        """
        try:
            session = request.session_hash if request else None
            out = clip.classify(self.ctx, video, model, repo_id, overlay, lambda f, d: progress(f, desc=d), session)
        except AppError as e:
            raise gr.Error(e.message, title=e.title, print_exception=False) from e
        return out.verdict, out.label, out.gallery, out.features, out.belief, out.timings, out.details

    def redraw_frames(self, video: str | None, model: str | None, repo_id: str | None, overlay: str,
                      request: gr.Request = None):  # fmt: skip
        """Switch the heat map on the frames of the last result without running the model again."""
        items = clip.redraw(self.ctx, video, model, repo_id, overlay, _session(request))
        return gr.skip() if items is None else items

    def fix_preview(self, video: str | None):
        """Swap an upload the browser can't play (avi, HEVC...) for a small H.264 copy (see playable_preview)."""
        copy = preview.browser_preview(self.ctx, video)
        return gr.skip() if copy is None else copy

    def show_failure(self, request: gr.Request):
        """After a failed run: the reason stays in the answer panel (the toast fades), stale results go away."""
        error = self.ctx.failures.pop(request.session_hash)
        return (
            failure_markdown(error, self.ctx.settings),
            gr.Column(visible=False),
            gr.Column(visible=False),
        )

    def show_card(self, model: str | None, repo_id: str | None, request: gr.Request = None) -> str:
        try:
            return card.model_card(self.ctx, model, repo_id, _session(request))
        except AppError as e:
            gr.Warning(e.message, title=e.title)
            return f"### ⚠️ {e.title}\n{e.message}"

    def show_legend(self, model: str | None, repo_id: str | None, request: gr.Request = None) -> str:
        """The gestures to draw, for a model of fingertip gestures ("" for any other)."""
        try:
            return card.gesture_legend(self.ctx, model, repo_id, _session(request))
        except AppError:
            return ""

    def show_known(self, model: str | None, repo_id: str | None, request: gr.Request = None) -> str:
        """The Classify tab's line of what the chosen model knows (the Model card tab says why it can't load)."""
        try:
            return card.known_actions(self.ctx, model, repo_id, _session(request))
        except AppError:
            return ""

    def live_step(self, frame, state, model: str | None, repo_id: str | None, request: gr.Request = None):
        """One webcam frame -> the running answer (skipped frames leave the page as it is)."""
        try:
            view, state = live.live_frame(self.ctx, frame, state, model, repo_id, session=_session(request))
        except AppError as e:
            raise gr.Error(e.message, title=e.title, print_exception=False) from e
        if view is None:
            return gr.skip(), gr.skip(), gr.skip(), gr.skip(), state
        return view.verdict, view.label, view.history, view.status, state

    def timeline_page(self, video: str | None, model: str | None, repo_id: str | None, window: float, stride: float,
                      request: gr.Request = None, progress=gr.Progress()):  # fmt: skip
        try:
            say = lambda f, d: progress(f, desc=d)  # noqa: E731
            out = tl.make_timeline(self.ctx, video, model, repo_id, window, stride, say, _session(request))
        except AppError as e:
            raise gr.Error(e.message, title=e.title, print_exception=False) from e
        return out.summary, out.strip, out.figure, out.table, out.files, out.details, gr.Column(visible=True)

    # --- lean API endpoints (no page behind them) ---
    def classify(self, video: str | None, model: str = "", repo_id: str = "", request: gr.Request = None) -> dict:
        """Name the action in a video: the answer alone, as JSON (no pictures, no heat maps).

        Args:
            video: the video file (mp4, webm, avi, mkv, mov...), up to the app's size and duration limits.
            model: a bundled model's name (empty: the default one).
            repo_id: a Hugging Face repo id (owner/name) of a hybrid model; wins over `model` when not empty.

        Returns:
            {"label" (the closest class), "score", "topk", "known" (false: none of the model's actions),
            "openset_score", "threshold", "similarity", "similarity_threshold", "frames", "timings_ms", "video",
            "model"}: the same keys as `python -m hybrid predict --json`.
        """
        try:
            choice = model or models.default_choice(self.ctx.settings)
            return clip.answer(self.ctx, video, choice, repo_id, _session(request))
        except AppError as e:
            raise gr.Error(e.message, title=e.title, print_exception=False) from e

    def timeline(self, video: str | None, window: float = DEFAULT_WINDOW_S, stride: float = 0.0, model: str = "",
                 repo_id: str = "", request: gr.Request = None) -> dict:  # fmt: skip
        """Label every stretch of a long video: sliding windows, merged into segments, as JSON.

        Args:
            video: the video file, up to the Timeline tab's duration limit.
            window: seconds of video behind each answer (default 4).
            stride: seconds between windows (0: half the window).
            model: a bundled model's name (empty: the default one).
            repo_id: a Hugging Face repo id (owner/name) of a hybrid model; wins over `model` when not empty.

        Returns:
            {"segments": [{"start", "end", "label", "score", "windows"}], "windows": [{"start", "end", "label",
            "score", "probs"}], "duration_s", "window_s", "stride_s", "labels", "video", "timings_ms", "model",
            ...}: the same keys as `python -m hybrid timeline --json` (times in seconds).
        """
        try:
            choice = model or models.default_choice(self.ctx.settings)
            _, data, _ = tl.compute(self.ctx, video, choice, repo_id, window, stride or None,
                                    session=_session(request))  # fmt: skip
        except AppError as e:
            raise gr.Error(e.message, title=e.title, print_exception=False) from e
        return data

    # --- Teach tab ---
    def teach_add(self, action: str, recorded: str | None, files: list[str] | None, request: gr.Request = None):
        """Keep a recorded take and/or dropped files as takes of `action`."""
        got = [recorded] if recorded else []
        got += tc.file_paths(files)
        try:
            self.ctx.teach.add(_session(request), action, got)
        except AppError as e:
            raise gr.Error(e.message, title=e.title, print_exception=False) from e
        return (*self._takes_view(request), None, None)

    def teach_remove(self, pick: int | None, request: gr.Request = None):
        if pick is not None:
            try:
                self.ctx.teach.remove(_session(request), int(pick))
            except AppError as e:
                raise gr.Error(e.message, title=e.title, print_exception=False) from e
        return self._takes_view(request)

    def _takes_view(self, request: gr.Request | None):
        takes = self.ctx.teach.takes(_session(request))
        return (
            tc.takes_markdown(takes),
            [(str(t.thumb), t.caption) for t in takes],
            gr.Dropdown(choices=[(f"{i + 1}. {t.caption}", i) for i, t in enumerate(takes)], value=None),
        )

    def teach_train(self, request: gr.Request = None, progress=gr.Progress()):
        """Train on this page's takes: the CV figure, the confusion picture, the takes it got wrong, the zip."""
        try:
            shop = self.ctx.teach.train(_session(request), lambda f, d: progress(f, desc=d))
        except AppError as e:
            raise gr.Error(e.message, title=e.title, print_exception=False) from e
        t = shop.taught
        wrong = [(str(tc.thumb_of(shop, w["path"])), f"{w['truth']} → answered {w['pred']}") for w in t.wrong]
        return (
            tc.summary_markdown(t),
            tc.confusion(t),
            gr.Gallery(value=wrong, visible=bool(wrong)),
            str(shop.zip),
            gr.Column(visible=True),
        )

    def _choices(self, hub: list[str], request: gr.Request | None) -> list[tuple[str, str]]:
        taught = self.ctx.teach.models_of(_session(request))
        shown = {value: tc.picker_label(folder, i + 1) for i, (value, folder) in enumerate(taught.items())}
        return models.picker_choices(self.ctx.settings, hub, shown)

    def teach_use(self, hub: list[str], request: gr.Request = None):
        """Put the latest taught model in this page's model picker, chosen (the repo box cleared so it wins)."""
        shop = self.ctx.teach.workshop(_session(request))
        if shop.token is None:
            raise gr.Error("Train a model first.", title="No taught model")
        gr.Info("Your model is now picked in every tab: Classify, Live and Timeline.", title="Using your model")
        return gr.Dropdown(choices=self._choices(hub, request), value=tc.TAUGHT + shop.token), ""

    def pick_repo(self, repo_id: str, hub: list[str], request: gr.Request = None):
        """A repo id typed and entered: once it loads, it becomes the picker's chosen entry (one visible choice)
        and the box empties; when it can't, the box keeps it and the Model card says why."""
        if not (repo_id or "").strip():
            return gr.skip(), gr.skip(), gr.skip()
        try:
            key, ref = self.ctx.resolve(None, repo_id)
            self.ctx.models.get(key, ref)
        except AppError:
            return gr.skip(), gr.skip(), gr.skip()
        hub = [*[r for r in hub if r != ref], ref]
        choices = self._choices(hub, request)
        return gr.Dropdown(choices=choices, value=models.HUB + ref), "", hub

    def teach_publish(self, repo: str, token: str, private: bool, request: gr.Request = None) -> str:
        """Push the latest taught model to the Hub."""
        try:
            return tc.publish(self.ctx.teach.workshop(_session(request)), repo, token, private)
        except AppError as e:
            raise gr.Error(e.message, title=e.title, print_exception=False) from e

    def teach(self, files: list[str] | None, labels: str, request: gr.Request = None):
        """Teach a model from code: video files and their actions -> the measured summary and the model as a zip.

        Args:
            files: the takes (video files), at least 2 per action.
            labels: the action of each file, in the same order, separated by commas (e.g. "wave,wave,clap,clap").

        Returns:
            the summary (actions, takes, cross-validated accuracy, confusion, open-set gates, seconds) and the zip.
        """
        try:
            shop = tc.teach_files(self.ctx.teach, _session(request), files or [], labels)
        except AppError as e:
            raise gr.Error(e.message, title=e.title, print_exception=False) from e
        return shop.taught.summary(), str(shop.zip)

    def session_over(self, request: gr.Request = None) -> None:
        self.ctx.teach.end(_session(request))


def _session(request: gr.Request | None) -> str | None:
    return request.session_hash if request else None


def idle_text(examples: bool) -> str:
    """The answer panel before a clip: examples are promised only where there are some."""
    return IDLE.replace(" or record one", ", record one, or pick an example below", 1) if examples else IDLE


def playable_preview(ui: Handlers, video: gr.Video, triggers: list, examples: gr.Examples | None = None) -> None:
    """As soon as a clip is in the player (uploaded, recorded, an example put there), whatever the run makes of
    it: an upload the browser can't play (avi, HEVC...) becomes a small H.264 copy, a webcam recording without a
    duration gets one (see preview.browser_preview)."""
    kw = dict(api_visibility="private", show_progress="hidden", concurrency_limit=2, concurrency_id="preview")
    gr.on(triggers, ui.fix_preview, video, video, **kw)
    if examples is not None:
        examples.load_input_event.then(ui.fix_preview, video, video, **kw)


def explained_chart(title: str, note: str, elem_id: str) -> gr.HTML:
    """A column: a heading, one sentence on how to read the chart, the chart (inline SVG, hybrid/charts.py)."""
    with gr.Column(min_width=320):
        gr.Markdown(f"### {title}")
        gr.Markdown(note, elem_classes="note")
        return gr.HTML("", elem_id=elem_id, elem_classes="chart")


def follow_model(demo: gr.Blocks, model: gr.Dropdown, repo_id: gr.Textbox, fn, output, **kw) -> None:
    """fn(model, repo_id) -> output when the page loads and whenever the chosen model changes (one queue: "card")."""
    for trigger in (demo.load, model.change, repo_id.submit):
        trigger(fn, [model, repo_id], output, api_visibility="private", concurrency_id="card", **kw)


def clip_tab(ui: Handlers, model: gr.Dropdown, repo_id: gr.Textbox, clips: tuple[Path, ...], demo: gr.Blocks) -> None:
    """Tab 1: classify an uploaded or recorded clip (or one of `clips`, the examples)."""
    idle = idle_text(bool(clips and models.default_choice(ui.ctx.settings)))
    knows = gr.Markdown("", elem_id="knows")
    legend = gr.HTML("", elem_id="legend-clip")
    follow_model(demo, model, repo_id, ui.show_known, knows, show_progress="hidden")
    follow_model(demo, model, repo_id, ui.show_legend, legend, show_progress="hidden")
    with gr.Row(equal_height=False):
        with gr.Column(scale=5, min_width=320):
            video = gr.Video(
                label="Your clip (a file or the webcam)",
                sources=["upload", "webcam"],
                include_audio=True,  # keep uploads as they are (no re-encode before the model reads them)
                # the model sees ~224 px: record 640x480 without the microphone (small uploads, no audio asked)
                webcam_options=gr.WebcamOptions(
                    constraints={"video": {"width": {"ideal": 640}, "height": {"ideal": 480}}, "audio": False}
                ),
                height=340,
                elem_id="video-in",
            )
            overlay = gr.Radio(
                list(clip.OVERLAYS), value=clip.OVERLAY_GRADCAM, label="Heat map on the frames", elem_id="overlay"
            )
            run = gr.Button("Classify", variant="primary", elem_id="run")
            examples_slot = gr.Column(elem_id="examples")  # filled below, once the outputs exist
        with gr.Column(scale=4, min_width=300):
            verdict = gr.Markdown(idle, elem_id="verdict")
            with gr.Column(visible=False) as answer_box:
                label = gr.Label(num_top_classes=5, label="Top 5", show_heading=False, elem_id="answer")
                timings = gr.Markdown("", elem_id="timings")
    with gr.Column(visible=False) as results_box:
        gr.Markdown("### What the CNN saw")
        gr.Markdown(
            "Every sampled frame, warm where the picture drove the answer (or, switched above, where the "
            "CNN's last layer fired most), with its time in the clip and the ImageNet things the backbone "
            "recognises in it, or, when the backbone was fine-tuned, the RNN's belief after that frame "
            "(click a frame to enlarge).",
            elem_classes="note",
        )
        gallery = gr.Gallery(
            label="Sampled frames", show_label=False, columns=8, object_fit="contain", preview=False, elem_id="frames",
            format="jpeg",  # 16 frames: 9 ms to encode as JPEG, 350 ms as Gradio's default WebP (and lighter to draw)
        )  # fmt: skip
        with gr.Row(equal_height=False):  # side by side on a desktop, one below the other on a phone
            features = explained_chart(
                "How alike the frames look",
                "Each square compares two sampled frames as the CNN sees them: bright where it sees nearly the same "
                "thing. A scene that holds is a bright block; the moment it changes, a dark band.",
                "features",
            )
            belief = explained_chart(
                "How the RNN decided",
                "The probability of each action after every RNN step (one step per sampled frame): you can see when "
                "the model made up its mind. Grey bars: how much each frame weighs in the final answer.",
                "belief",
            )
        with gr.Accordion("All numbers (JSON)", open=False):
            details = gr.JSON(label="Result", elem_id="details")

    inputs = [video, model, repo_id, overlay]
    outputs = [verdict, label, gallery, features, belief, timings, details]
    run_event = gr.on(
        [run.click, video.upload, video.stop_recording],
        ui.predict,
        inputs=inputs,
        outputs=outputs,
        api_name="predict",
        scroll_to_output=True,  # on a phone the answer is below the player
        # a few at once, so a slow Hub load (bounded by HYBRID_HUB_TIMEOUT_S) holds nobody up; the CNN still
        # takes one clip at a time (AppContext.run_lock), the queue holds the rest
        concurrency_limit=4,
        concurrency_id="model",
    )
    boxes = [answer_box, results_box]
    run_event.success(None, None, boxes, js=compat.show_in_page(len(boxes)), show_progress="hidden")
    run_event.failure(ui.show_failure, None, [verdict, *boxes], api_visibility="private", show_progress="hidden")

    def on_clear(video: str | None):
        """Clearing the clip brings back the idle page (results appear only after a successful run)."""
        if video is not None:
            return gr.skip(), gr.skip(), gr.skip()
        return idle, gr.Column(visible=False), gr.Column(visible=False)

    video.change(on_clear, video, [verdict, *boxes], api_visibility="private", show_progress="hidden")
    overlay.change(ui.redraw_frames, inputs, gallery, api_visibility="private", show_progress="hidden")

    default = models.default_choice(ui.ctx.settings)
    if clips and default:
        with examples_slot:
            shown = gr.Examples(
                [[str(p), default, "", clip.OVERLAY_GRADCAM] for p in clips],
                inputs=inputs,
                outputs=outputs,
                fn=ui.predict,
                cache_examples=True,
                cache_mode="lazy",
                visible_columns=[0],
                example_labels=[p.name for p in clips],
                label="Examples (click one)",
            )
        if shown.cache_event is not None:
            shown.cache_event.success(None, None, boxes, js=compat.show_in_page(len(boxes)), show_progress="hidden")
    playable_preview(ui, video, [video.upload, video.stop_recording], shown if clips and default else None)


# --- Live tab -----------------------------------------------------------------------------------------------
LIVE_STREAM_EVERY = 0.1  # s between webcam frames sent (the server takes one every ~0.25 s, see hybrid/stream.py)
LIVE_SESSIONS = 2  # streams served at once (each holds a slot while it runs); others wait in the queue
LIVE_WEBCAM = gr.WebcamOptions(constraints={"video": {"width": {"ideal": 640}, "height": {"ideal": 480}}})


def live_reset(state):
    idle = live.LIVE_IDLE
    return idle.verdict, idle.label, idle.history, idle.status, live.live_reset(state)


def live_tab(ui: Handlers, model: gr.Dropdown, repo_id: gr.Textbox, demo: gr.Blocks) -> None:
    """Tab 2: the webcam, read frame by frame; the RNN state lives in this tab's session."""
    settings = ui.ctx.settings
    gr.Markdown(
        "Frames go through the CNN one at a time, at the pace the model was trained on (a few per second), and the "
        "RNN carries its state from frame to frame (a bidirectional model re-reads a window of the latest frames "
        "instead): each answer covers about as much of what the camera saw as the model's training clips lasted "
        + (
            f"(here {settings.live_window_s:g} s, set by HYBRID_LIVE_WINDOW_S)"
            if settings.live_window_s
            else f"({DEFAULT_WINDOW_S:g} s for a model that doesn't say)"
        )
        + ". Start the webcam, then act in front of it."
        + models.idle_model_tip(settings),
        elem_classes="note",
    )
    with gr.Row(equal_height=False):
        with gr.Column(scale=5, min_width=320):
            cam = gr.Image(
                label="Webcam",
                sources=["webcam"],
                streaming=True,
                type="numpy",
                webcam_options=LIVE_WEBCAM,
                height=360,
                elem_id="live-cam",
            )
            reset = gr.Button("Reset (forget what it saw)", elem_id="live-reset")
            legend = gr.HTML("", elem_id="legend-live")
            follow_model(demo, model, repo_id, ui.show_legend, legend, show_progress="hidden")
        with gr.Column(scale=4, min_width=300):
            verdict = gr.Markdown(live.LIVE_IDLE.verdict, elem_id="live-verdict")
            label = gr.Label(num_top_classes=5, label="Top 5 now", show_heading=False, elem_id="live-label")
            gr.Markdown(f"**The last {settings.live_history_s:.0f} s** (newest on the right)", elem_classes="note")
            history = gr.HTML("", elem_id="live-history")
            status = gr.Markdown("", elem_id="live-status")
    state = gr.State(None)
    outputs = [verdict, label, history, status, state]
    cam.stream(
        ui.live_step,
        [cam, state, model, repo_id],
        outputs,
        stream_every=LIVE_STREAM_EVERY,
        time_limit=settings.live_time_limit_s,  # one stream's length; start again to go on
        concurrency_limit=LIVE_SESSIONS,
        concurrency_id="live",
        show_progress="hidden",
        api_visibility="private",
    )
    reset.click(live_reset, state, outputs, api_visibility="private", show_progress="hidden")


# --- Timeline tab -------------------------------------------------------------------------------------------
def timeline_tab(ui: Handlers, model: gr.Dropdown, repo_id: gr.Textbox, clips: tuple[Path, ...]) -> None:
    """Tab 3: a long video (or one of `clips`, the examples) -> labelled segments (sliding windows), drawn and
    downloadable."""
    settings = ui.ctx.settings
    gr.Markdown(
        f"For videos longer than one action (up to {settings.timeline_max_s / 60:.0f} min): windows of a few "
        "seconds slide along the video; each gets the model's answer, and neighbouring windows that agree merge into "
        "one segment. Every frame goes through the CNN once, however many windows it belongs to."
        + models.idle_model_tip(settings),
        elem_classes="note",
    )
    with gr.Row(equal_height=False):
        with gr.Column(scale=5, min_width=320):
            video = gr.Video(label="A long video", sources=["upload"], height=300, elem_id="tl-video")
        with gr.Column(scale=4, min_width=300):
            window = gr.Slider(1, 10, value=DEFAULT_WINDOW_S, step=0.5, label="Window (s)",
                               info="the stretch of video behind each answer", elem_id="tl-window")  # fmt: skip
            stride = gr.Slider(0.5, 10, value=DEFAULT_WINDOW_S / 2, step=0.5, label="Stride (s)",
                               info="how far the window moves each time", elem_id="tl-stride")  # fmt: skip
            run = gr.Button("Make the timeline", variant="primary", elem_id="tl-run")
            if clips:  # a click puts the clip in the player, then makes its timeline as the button does
                shown = gr.Examples([[str(p)] for p in clips], inputs=[video], example_labels=[p.name for p in clips],
                                    label="Examples (click one)")  # fmt: skip
    with gr.Column(visible=False) as results:
        summary = gr.Markdown("", elem_id="tl-summary")
        strip = gr.HTML("", elem_id="tl-strip")
        plot = gr.Plot(show_label=False, format="png", elem_id="tl-plot")
        table = gr.Dataframe(headers=tl.TIMELINE_COLUMNS, label="Segments", interactive=False, elem_id="tl-table")
        files = gr.File(label="Download (JSON, CSV)", file_count="multiple", interactive=False, elem_id="tl-files")
        with gr.Accordion("All numbers (JSON)", open=False):
            details = gr.JSON(elem_id="tl-details")
    for trigger in [run.click] + ([shown.load_input_event.then] if clips else []):
        trigger(
            ui.timeline_page,
            [video, model, repo_id, window, stride],
            [summary, strip, plot, table, files, details, results],
            # one at a time, in its own group: Gradio holds every event of a concurrency_id to the group's lowest
            # limit, and the timeline's CNN work does not take AppContext.run_lock (so it can't go to 4 like clips)
            concurrency_limit=1,
            concurrency_id="timeline",
            api_visibility="private",
        )
    playable_preview(ui, video, [video.upload], shown if clips else None)


# --- Teach tab ---------------------------------------------------------------------------------------------
def teach_tab(ui: Handlers, model: gr.Dropdown, repo_id: gr.Textbox, hub_picks: gr.State) -> None:
    """Tab 4: the person's own actions -> a model of theirs, measured, used in every tab, downloaded, published."""
    limits = ui.ctx.settings.teach
    gr.Markdown(
        "Teach it **your own actions**: type an action's name, record a few takes of it with the webcam (a few "
        f"seconds each, up to {limits.max_take_s:g} s) or drop video files, and do the same for 2 to 10 actions "
        "(add one where nothing happens, if the model should tell that apart). **Train** takes seconds: every take is "
        "then judged by a model that never saw it, so the accuracy you see is what to expect on new takes. "
        "Your takes and models stay on this page only and are deleted when you close it.",
        elem_classes="note",
    )
    with gr.Row(equal_height=False):
        with gr.Column(scale=5, min_width=320):
            action = gr.Textbox(label="Action", placeholder="e.g. wave, clap, thumbs up", max_length=40,
                                elem_id="teach-action")  # fmt: skip
            cam = gr.Video(label="Record a take", sources=["webcam"], include_audio=False, height=260,
                           webcam_options=LIVE_WEBCAM, elem_id="teach-cam")  # fmt: skip
            files = gr.File(label="…or drop video files (several at once)", file_count="multiple",
                            file_types=["video"], height=110, elem_id="teach-files")  # fmt: skip
            add = gr.Button("Add takes to this action", elem_id="teach-add")
        with gr.Column(scale=4, min_width=300):
            counts = gr.Markdown(tc.takes_markdown([]), elem_id="teach-counts")
            takes = gr.Gallery(label="Your takes", columns=2, height=300, object_fit="contain", preview=False,
                               format="jpeg", elem_id="teach-takes")  # fmt: skip
            with gr.Row():
                pick = gr.Dropdown([], label="Remove a take", scale=3, elem_id="teach-pick")
                remove = gr.Button("Remove", scale=1, min_width=80, elem_id="teach-remove")
            train = gr.Button("Train", variant="primary", elem_id="teach-train")
            gr.Markdown(tc.GUIDANCE, elem_classes="note")
    with gr.Column(visible=False) as results:
        summary = gr.Markdown("", elem_id="teach-summary")
        with gr.Row(equal_height=False):
            conf = gr.Plot(show_label=False, format="png", elem_id="teach-confusion")
            wrong = gr.Gallery(label="Takes it got wrong", columns=2, height=260, object_fit="contain",
                               preview=False, format="jpeg", elem_id="teach-wrong")  # fmt: skip
        with gr.Row():
            use = gr.Button("Use it in Classify, Live and Timeline", variant="primary", elem_id="teach-use")
            download = gr.File(label="Download the model (zip)", interactive=False, elem_id="teach-zip")
        with gr.Accordion("Publish to the Hugging Face Hub", open=False):
            with gr.Row():
                repo = gr.Textbox(label="Repo id", placeholder="your-name/my-actions", elem_id="teach-repo")
                token = gr.Textbox(label="Token (write access)", type="password", elem_id="teach-token")
            private = gr.Checkbox(True, label="Private", elem_id="teach-private")
            publish = gr.Button("Publish", elem_id="teach-publish")
            published = gr.Markdown("", elem_id="teach-published")
    view = [counts, takes, pick]
    gr.on([add.click, cam.stop_recording, files.upload], ui.teach_add, [action, cam, files], [*view, cam, files],
          api_visibility="private", concurrency_id="teach-takes", show_progress="minimal")  # fmt: skip
    remove.click(ui.teach_remove, pick, view, api_visibility="private", show_progress="hidden")
    train.click(ui.teach_train, None, [summary, conf, wrong, download, results], api_visibility="private",
                concurrency_limit=2, concurrency_id="teach")  # fmt: skip
    use.click(ui.teach_use, hub_picks, [model, repo_id], api_visibility="private", show_progress="hidden")
    publish.click(ui.teach_publish, [repo, token, private], published, api_visibility="private")


def api_endpoints(ui: Handlers) -> None:
    """Endpoints for scripts and MCP clients, on components the page doesn't show: /classify and /timeline (a
    video -> JSON), /teach (takes + their actions -> the summary and the model's zip)."""
    with gr.Column(visible=False):
        video, answer = gr.Video(include_audio=True), gr.JSON()
        model, repo_id = gr.Textbox(""), gr.Textbox("")  # a value: optional for the client
        window, stride = gr.Number(DEFAULT_WINDOW_S), gr.Number(0.0)
        takes, labels, zipped = gr.File(file_count="multiple"), gr.Textbox(), gr.File()
        go, go_tl, go_teach = gr.Button(), gr.Button(), gr.Button()
    go.click(ui.classify, [video, model, repo_id], answer, api_name="classify", concurrency_limit=4,
             concurrency_id="model")  # fmt: skip
    go_tl.click(ui.timeline, [video, window, stride, model, repo_id], answer, api_name="timeline",
                concurrency_limit=1, concurrency_id="timeline")  # fmt: skip
    go_teach.click(ui.teach, [takes, labels], [answer, zipped], api_name="teach", concurrency_limit=2,
                   concurrency_id="teach")  # fmt: skip


def card_tab(ui: Handlers, model: gr.Dropdown, repo_id: gr.Textbox, demo: gr.Blocks) -> None:
    """Tab 5: the selected model's card — the classes it knows, its metrics and limits as documented."""
    card = gr.Markdown("_Loading the model card..._", elem_id="card")
    follow_model(demo, model, repo_id, ui.show_card, card)


def build_demo(ctx: AppContext | None = None, examples_dir: str | None = None) -> gr.Blocks:
    """The page over `ctx` (default: a context for AppSettings.from_env())."""
    ui = Handlers(ctx if ctx is not None else AppContext.create())
    settings = ui.ctx.settings
    offered = examples.gather(settings, examples_dir)
    if offered.problem:  # the page goes on without them; the one who started it reads why
        print(f"examples: {offered.problem}", file=sys.stderr)
    with gr.Blocks(title=TITLE, delete_cache=(600, 3600), analytics_enabled=False) as demo:
        gr.HTML(HEADER)
        with gr.Row(equal_height=True):
            choices = list(models.bundled_models(settings))
            model = gr.Dropdown(
                choices, value=models.default_choice(settings), label="Model", scale=1, min_width=200, elem_id="model",
                info="Bundled, loaded from the Hub or taught on this page",
            )  # fmt: skip
            repo_id = gr.Textbox(
                models.default_repo_id(settings),
                label="…or a Hugging Face repo id", placeholder="owner/name (press Enter to load)", scale=1,
                min_width=200, elem_id="repo", info="Any hybrid model on the Hub: once loaded, it is the chosen model",
            )  # fmt: skip
            hub_picks = gr.State([])  # the Hub repos loaded on this page: entries of its picker
        repo_id.submit(ui.pick_repo, [repo_id, hub_picks], [model, repo_id, hub_picks], api_visibility="private",
                       show_progress="hidden")  # fmt: skip
        with gr.Tabs(overflow_behavior="wrap"):  # on a phone every tab stays in sight (no "⋯" menu)
            with gr.Tab("Classify a clip", id="clip"):
                clip_tab(ui, model, repo_id, offered.clips, demo)
            with gr.Tab("Live (webcam)", id="live"):
                live_tab(ui, model, repo_id, demo)
            with gr.Tab("Timeline (long videos)", id="timeline"):
                timeline_tab(ui, model, repo_id, offered.clips)
            with gr.Tab("Teach your own", id="teach"):
                teach_tab(ui, model, repo_id, hub_picks)
            with gr.Tab("Model card", id="card"):
                card_tab(ui, model, repo_id, demo)
        api_endpoints(ui)
        demo.unload(ui.session_over)  # the page is closed: its takes and taught models go
    demo.queue(max_size=32, default_concurrency_limit=2)
    compat.write_output_images_atomically()
    return demo


def launch_kwargs(ctx: AppContext | None = None) -> dict:
    """Security and limits: uploads capped, no extra served paths, MCP where gradio[mcp] is installed."""
    settings = ctx.settings if ctx is not None else AppContext.create().settings
    return dict(
        max_file_size=settings.limits.max_bytes,  # bytes, the reader's own cap (Gradio's "mb" means MiB)
        allowed_paths=[],
        mcp_server=importlib.util.find_spec("mcp") is not None,
        theme=gr.themes.Soft(primary_hue="orange", secondary_hue="blue"),
        css=CSS,
        js=compat.PAGE_JS,
    )


def _interrupt(signum, frame) -> None:
    """SIGTERM -> the same clean shutdown as Ctrl-C; a second signal during the shutdown is ignored."""
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> None:
    """Serve until SIGTERM or Ctrl-C, then stop within a few seconds, leaving none of this run's files behind.

    Ends the process itself after a stop (see exit_now); an error at start-up is raised as usual."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", metavar="DIR", default=None, help="a folder of example clips to offer")
    args = parser.parse_args(argv)
    if args.examples and not Path(args.examples).is_dir():
        parser.error(f"--examples: {args.examples} is not a folder")
    try:
        ctx = AppContext.create()
    except ConfigError as e:  # a setting that can't be used: say which, before anything starts
        print(f"error: {e}", file=sys.stderr)
        sys.exit(2)
    signal.signal(signal.SIGTERM, _interrupt)
    cache = compat.use_private_cache()
    reaper = compat.remove_when_gone(cache)  # noqa: F841 - held, with its pipe, until this process ends
    compat.refuse_unusable_uploads()
    demo = None
    try:
        ctx.warm_up()
        demo = build_demo(ctx, args.examples)
        demo.launch(prevent_thread_lock=True, **launch_kwargs(ctx))
        while demo.is_running and not getattr(demo.server, "should_exit", True):
            time.sleep(0.1)
    except KeyboardInterrupt:  # SIGTERM (see _interrupt) or Ctrl-C, while serving or still starting
        pass
    finally:
        compat.stop_serving(demo)
        ctx.teach.close()
    compat.exit_now(cache)


if __name__ == "__main__":
    main()
