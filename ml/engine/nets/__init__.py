"""Pure torch networks (no Django): each is an nn.Module built from a @dataclass config."""
