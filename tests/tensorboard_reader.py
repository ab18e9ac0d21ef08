"""Read scalar tags back from tensorboardX event files (test helper)."""

import struct
from pathlib import Path

from tensorboardX.proto import event_pb2


def scalar_tags(log_dir: Path) -> set[str]:
    tags = set()
    for path in Path(log_dir).glob("events.out.tfevents.*"):
        data = path.read_bytes()
        i = 0
        while i + 12 <= len(data):
            (length,) = struct.unpack("<Q", data[i : i + 8])
            event = event_pb2.Event()
            event.ParseFromString(data[i + 12 : i + 12 + length])
            tags.update(v.tag for v in event.summary.value)
            i += 12 + length + 4
    return tags
