from app.core.errors import Conflict, InvalidInput, NotAllowed, NotAuthenticated


class LoginFailed(NotAuthenticated):
    code = "login_failed"


class UserInactive(NotAllowed):
    code = "user_inactive"


class UsernameTaken(Conflict):
    code = "username_taken"


class WeakPassword(InvalidInput):
    code = "weak_password"


class PasswordLoginOff(NotAllowed):
    code = "password_login_off"
