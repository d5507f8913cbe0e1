from chrony_snap.cli import run

run()
