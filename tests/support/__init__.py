"""Helpers the tests share: the bench rig, ONNX fixtures (well-formed and hostile), the
picamera2 stand-in, a real sshd."""
