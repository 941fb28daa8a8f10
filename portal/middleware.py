from .tenancy import load_workspace


class WorkspaceMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        load_workspace(request)
        return self.get_response(request)
