"""In-process closed-loop simulator (``cd-simulate``, contract section 8).

The loop is split in two swappable halves (see :mod:`.engine`): *traffic*
(blend requests and count impressions for a span of simulated time) and a
*controller* (one control step per window). The in-process halves call the
real blend math and the real control step, so what the simulator shows is what
the services do.
"""
