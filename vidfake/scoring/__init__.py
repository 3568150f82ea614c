"""Scoring, one job per module, imports pointing one way:

- `scorer`: a model over a video's face-track windows → track scores → the video's score;
- `ranking`: a scored video → its CSV row; the order, the atomic CSV, resume from a partial log;
- `ray_pool`: one video scanned and scored, and the pool of Ray workers that do it at scale;
- `collection`: a whole input (folder, listing, video, shards) → the ranked CSV, with resume.
"""
