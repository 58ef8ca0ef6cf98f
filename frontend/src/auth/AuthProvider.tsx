import { useQueryClient } from "@tanstack/react-query";
import {
  createContext,
  type ReactNode,
  useCallback,
  useContext,
  useEffect,
  useMemo,
  useState,
} from "react";
import { isApiError } from "../api/client";
import type { User } from "../api/types";
import { api, onSession, SESSION_KEY } from "../lib/api";

interface AuthState {
  user: User | null;
  /** Why the user was logged out without asking (refresh refused), until dismissed. */
  endedReason: string | null;
  login(email: string, password: string): Promise<User>;
  signup(email: string, password: string, name: string): Promise<User>;
  /** Ends the login on the service, then here (also when the service can't be reached). */
  logout(): void;
  /** Changes the password; every other login of the account ends. `true`: logged in again
   * with the new password; `false`: logged out, the banner asks to log in again. */
  changePassword(currentPassword: string, newPassword: string): Promise<boolean>;
  dismissEnded(): void;
}

const AuthContext = createContext<AuthState | null>(null);

export function AuthProvider({ children }: { children: ReactNode }) {
  const queryClient = useQueryClient();
  const [user, setUser] = useState<User | null>(() => api.session?.user ?? null);
  const [endedReason, setEndedReason] = useState<string | null>(null);

  useEffect(() => {
    const offChanged = onSession("changed", (s) => setUser(s?.user ?? null));
    const offEnded = onSession("ended", (reason) => {
      setEndedReason(reason);
      queryClient.removeQueries({ queryKey: ["me"] });
    });
    // Another tab logged in or out.
    const onStorage = (e: StorageEvent) => {
      if (e.key === SESSION_KEY) setUser(api.session?.user ?? null);
    };
    window.addEventListener("storage", onStorage);
    // Check the kept login once (the refresh token may have been revoked meanwhile).
    if (api.session) {
      api.me().catch((e: unknown) => {
        if (isApiError(e) && e.status === 401) void api.logout();
      });
    }
    return () => {
      offChanged();
      offEnded();
      window.removeEventListener("storage", onStorage);
    };
  }, [queryClient]);

  const login = useCallback(async (email: string, password: string) => {
    const u = await api.login(email, password);
    setEndedReason(null);
    return u;
  }, []);
  const signup = useCallback(async (email: string, password: string, name: string) => {
    const u = await api.signup(email, password, name);
    setEndedReason(null);
    return u;
  }, []);
  const logout = useCallback(() => {
    // Nothing of this account may show to the next one on this device: the cache goes now
    // and again once the tokens are gone (a query may have refetched meanwhile).
    queryClient.clear();
    void api.logout().finally(() => queryClient.clear());
  }, [queryClient]);
  const changePassword = useCallback(
    async (currentPassword: string, newPassword: string) => {
      const again = await api.changePassword(currentPassword, newPassword);
      if (again) return true;
      queryClient.clear();
      setEndedReason("Your password was changed. Log in with the new one.");
      return false;
    },
    [queryClient],
  );
  const dismissEnded = useCallback(() => setEndedReason(null), []);

  const value = useMemo(
    () => ({ user, endedReason, login, signup, logout, changePassword, dismissEnded }),
    [user, endedReason, login, signup, logout, changePassword, dismissEnded],
  );
  return <AuthContext.Provider value={value}>{children}</AuthContext.Provider>;
}

export function useAuth(): AuthState {
  const ctx = useContext(AuthContext);
  if (!ctx) throw new Error("useAuth outside AuthProvider");
  return ctx;
}
