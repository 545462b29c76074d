"""The HTTP edge: routes decode input, call one service method, render the answer."""
