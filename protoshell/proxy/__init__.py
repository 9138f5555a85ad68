"""``protoshell proxy``: stand between a real client and a server, forward
every byte unchanged, show the conversation framed as ``C:``/``S:`` lines and
record it as a transcript that replays.

- ``split``: the client's stream cut into command lines and payloads (pure);
- ``connection``: one client connection, its two legs and two pumps, STARTTLS;
- ``server``: listening, numbering, a renderer and a recorder per connection;
- ``ca``: the local CA and the leaf certificates for the client legs;
- ``cli``: arguments and exit codes.
"""
