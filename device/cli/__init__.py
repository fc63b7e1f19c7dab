"""`scopecount`: main.py builds the parser from one module per command (`<command>_cmd.py`:
`register` adds its arguments, `run` does the work and imports anything heavy, such as OpenCV,
onnxruntime, gpiozero, Textual or torch, only then); options.py holds the options several
commands share. The one package that may import export/, inside the commands that need it."""
