import { QueryClient, QueryClientProvider } from "@tanstack/react-query";
import { StrictMode } from "react";
import { createRoot } from "react-dom/client";
import { BrowserRouter } from "react-router-dom";
import { App } from "./App";
import { isApiError } from "./api/client";
import { AuthProvider } from "./auth/AuthProvider";
import "./index.css";

const queryClient = new QueryClient({
  defaultOptions: {
    queries: {
      staleTime: 10_000,
      refetchOnWindowFocus: false,
      // Retry only what may succeed unchanged: no answer, 429, 503. Never a 4xx.
      retry: (failures, error) => isApiError(error) && error.transient && failures < 3,
      retryDelay: (failures, error) =>
        isApiError(error) && error.retryAfter !== null
          ? Math.min(error.retryAfter, 30) * 1000
          : Math.min(1000 * 2 ** failures, 8000),
    },
    mutations: { retry: false },
  },
});

const root = document.getElementById("root");
if (!root) throw new Error("#root is missing");
createRoot(root).render(
  <StrictMode>
    <QueryClientProvider client={queryClient}>
      <BrowserRouter>
        <AuthProvider>
          <App />
        </AuthProvider>
      </BrowserRouter>
    </QueryClientProvider>
  </StrictMode>,
);
