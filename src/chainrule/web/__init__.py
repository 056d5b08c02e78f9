"""The local web playground: watch back-propagation happen, one stage at a time.

``chainrule serve`` starts it.  The pieces, from the bottom up:

* ``toys`` — small 2-D sets drawn from a seed (blobs, XOR, circles, moons, spiral; plane and
  bumps for regression), with noise and feature crosses
* ``catalog`` — the datasets a session can use and each one's default settings
* ``settings`` — what the page may ask for, checked (layer sizes, η, batch size, …)
* ``run`` — one model on one dataset: step a batch in four stages, run an epoch, explain
* ``views`` — the JSON the page draws (network, data, decision regions)
* ``guard`` — which requests get in: this computer's host names, nothing from another
  site, JSON for state changes, a limit on every body
* ``app`` — the Starlette application (JSON endpoints + the static page)
* ``server`` — binding to 127.0.0.1 (or, when asked for explicitly, elsewhere) with uvicorn

Only ``app`` and ``server`` import Starlette and uvicorn (the ``chainrule[web]`` extra);
nothing in ``import chainrule`` imports this package.
"""
