"""The lessons' helpers: what notebooks/ uses to teach, apart from labkit's core.

    tour        lesson 1: a walk through the fleet, two nodes broken at rest
    panel       lesson 2: the control panel's logic (plain functions, no widgets)
    panel_html  the control panel's parts as HTML
    widgets     the control panel as ipywidgets (ControlPanel)
    drills      lesson 2: predict, inject, watch the alerts, check the prediction
    burn        lesson 3: error-budget figures and tables, SLO alerts against theory
    review      lessons 4 and 5: an offline incident review and alert scoring

Nothing in labkit outside this package imports it (tests/test_layers.py checks): the core
(nodes, the lab, queries, SLO maths, recordings, scoring) stands without the lessons.
"""
