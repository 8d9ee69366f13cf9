"""The Gradio app's work, as plain functions over one AppContext (app.py only lays out the page and wires these
to its components; tests call them without a browser).

    settings   AppSettings.from_env(): every limit and choice, read once at start
    context    AppContext: the settings plus the app's bounded caches (models, results, failures, previews)
    errors     AppError (a title and a message for a person) and the answer panel's failure text
    recent     the bounded, thread-safe LRU behind those caches
    models     the picker: bundled models, the repo-id policy, resolving a choice, the model cache
    card       the Model card tab's text
    clip       Classify: a clip -> the answer, frames with heat maps, belief over time, numbers
    preview    an H.264 copy for uploads browsers can't play
    examples   the example clips: a folder's, or a Hub dataset's fetched at start
    live       Live: one webcam frame for one browser session -> the running answer
    timeline   Timeline: a long video -> labelled segments, drawn and downloadable
    teach      Teach: a browser session's takes -> a model of its own, used, downloaded, published
    gradio_compat  every workaround that touches Gradio's internals, guarded by its version
"""

from pathlib import Path

STYLE = Path(__file__).with_name("style.css")  # the page's CSS (app.py hands it to Gradio)
