#if canImport(Glibc)
import Glibc
#endif

/// The nginx in front of the app servers: round robin, upstream keep-alive, a failed server
/// skipped. The one writer of it, for `msm demo` and, through `msm nginx-config`, for the HTTP
/// benchmark, so the cluster a user runs and the one that is measured are configured alike.
struct NginxConfiguration {
    /// Where nginx listens, on 127.0.0.1.
    var listenPort: Int
    /// The app servers, on 127.0.0.1.
    var upstreamPorts: [Int]
    /// Where nginx keeps its pid file, logs and temp files.
    var directory: String
    /// Idle connections kept open to the app servers: at least one per concurrent client, or
    /// nginx reconnects per request.
    var keepalive = 32
    /// nginx's workers otherwise run as nobody, who cannot write to `directory`.
    var runAsRoot = geteuid() == 0

    var text: String {
        let servers = upstreamPorts.map { "        server 127.0.0.1:\($0) max_fails=1 fail_timeout=2s;" }.joined(separator: "\n")
        return """
            # written by msm (NginxConfiguration)
            \(runAsRoot ? "user root;" : "")
            worker_processes 1;
            daemon off;
            pid \(directory)/nginx.pid;
            error_log \(directory)/nginx-error.log warn;
            events { worker_connections 4096; }
            http {
                access_log off;
                client_body_temp_path \(directory)/client_body;
                proxy_temp_path \(directory)/proxy;
                fastcgi_temp_path \(directory)/fastcgi;
                uwsgi_temp_path \(directory)/uwsgi;
                scgi_temp_path \(directory)/scgi;
                keepalive_requests 1000000;   # a load generator's connections stay open for its whole run
                upstream msm_app_servers {
            \(servers)
                    keepalive \(keepalive);
                    keepalive_requests 1000000;
                }
                server {
                    listen 127.0.0.1:\(listenPort);
                    location / {
                        proxy_pass http://msm_app_servers;
                        proxy_http_version 1.1;
                        proxy_set_header Connection "";
                        proxy_set_header Host $host;
                        proxy_next_upstream error timeout http_502 http_503;
                        proxy_connect_timeout 1s;
                    }
                }
            }

            """
    }
}
